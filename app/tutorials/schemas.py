from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.schemas import StrictInput

Lang = Literal["en", "de"]
Url = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class BilingualIn(StrictInput):
    en: Annotated[str, StringConstraints(min_length=2, max_length=1000)]
    de: Annotated[str, StringConstraints(min_length=2, max_length=1000)]


class StepIn(StrictInput):
    number: Annotated[int, Field(ge=1)]
    instruction: BilingualIn
    image_url: Url | None = None


class TutorialIn(StrictInput):
    """The same shape as a fixture in `seeds/tutorials/` (`seeds/tutorial.schema.json`)."""

    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
    category: Annotated[str, StringConstraints(pattern=r"^[a-z]+(-[a-z]+)*$", max_length=32)]
    subject: BilingualIn
    thumbnail_url: Url | None = None
    description: BilingualIn
    steps: Annotated[list[StepIn], Field(min_length=1, max_length=50)]

    @model_validator(mode="after")
    def _numbered_in_order(self) -> TutorialIn:
        numbers = [step.number for step in self.steps]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError("steps must be numbered 1, 2, 3, … in order")
        return self


class Bilingual(BaseModel):
    en: str
    de: str


class StepRead(BaseModel):
    number: int
    instruction: Bilingual | str
    image_url: str | None = None


def localised(data: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """With `lang`, every {en, de} text becomes the string in that language."""
    if lang is None:
        return data

    def pick(value: Any) -> Any:
        return value.get(lang) if isinstance(value, dict) else value

    out = {**data, "subject": pick(data["subject"]), "description": pick(data["description"])}
    if "steps" in data:
        out["steps"] = [{**s, "instruction": pick(s["instruction"])} for s in data["steps"]]
    return out


class TutorialSummary(BaseModel):
    slug: str
    category: str
    subject: Bilingual | str
    total_steps: int
    thumbnail_url: str | None = None
    description: Bilingual | str

    @classmethod
    def of(cls, tutorial: BaseModel, lang: str | None) -> Self:
        """The tutorial (or its card) with texts in `lang`, or bilingual without it."""
        return cls.model_validate(localised(tutorial.model_dump(), lang))


class TutorialRead(TutorialSummary):
    steps: list[StepRead]

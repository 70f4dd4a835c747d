from __future__ import annotations

from typing import Annotated, Literal

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


class TutorialRead(BaseModel):
    slug: str
    category: str
    subject: Bilingual | str
    total_steps: int
    thumbnail_url: str | None = None
    description: Bilingual | str
    steps: list[StepRead]


class TutorialSummary(BaseModel):
    slug: str
    category: str
    subject: Bilingual | str
    total_steps: int
    thumbnail_url: str | None = None
    description: Bilingual | str


class TutorialPage(BaseModel):
    items: list[TutorialSummary]
    next_cursor: str | None = None

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.schemas import IdStr, Keep, ObjectIdIn, ResourceRead, StrictInput

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=50_000)]


class StoryTextIn(StrictInput):
    en: Text
    de: Text | None = None


class StoryCreate(StrictInput):
    title: Title
    text: StoryTextIn
    drawing_id: ObjectIdIn | None = None
    image_file_id: ObjectIdIn | None = None
    generation_time_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None


class StoryPatch(StrictInput):
    not_null = ("title", "text", "is_favorite", "keep")
    keep: Keep = None
    title: Title | None = None
    text: StoryTextIn | None = None
    is_favorite: bool | None = None


class StoryTextRead(BaseModel):
    en: str
    de: str | None = None


class StoryRead(ResourceRead):
    keep: bool = False
    title: str
    text: StoryTextRead
    drawing_id: IdStr | None = None
    image_file_id: IdStr | None = None
    is_favorite: bool
    generation_time_ms: int | None = None

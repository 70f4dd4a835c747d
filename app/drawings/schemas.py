from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, BaseModel, Field

from app.schemas import IdStr, ResourceRead


class DrawingImageRead(BaseModel):
    id: IdStr = Field(validation_alias=AliasChoices("id", "file_id"))  # the image's file
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class DrawingRead(ResourceRead):
    tutorial_slug: str | None
    uploaded_image: DrawingImageRead
    edited_images: list[DrawingImageRead]

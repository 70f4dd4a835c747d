"""Children's drawings: the uploaded image and its edited versions, each a file in GridFS."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument
from documents.trash import Trashable

MAX_EDITS = 100


class DrawingImage(BaseModel):
    file_id: PydanticObjectId
    sha256: str
    filename: str
    content_type: str
    size: int
    created_at: datetime


class Drawing(OwnedDocument, Trashable):
    noun = "drawing"
    tutorial_slug: str | None = None
    uploaded_image: DrawingImage
    edited_images: list[DrawingImage] = Field(default_factory=list)
    edit_count: int = 0

    blob_fields: ClassVar[tuple[str, ...]] = ("uploaded_image.sha256", "edited_images.sha256")

    class Settings:
        name = "drawings"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
        ]

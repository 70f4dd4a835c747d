"""AI-generated bilingual stories about a child's drawing."""

from __future__ import annotations

from typing import ClassVar

from beanie import PydanticObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument
from documents.trash import Trashable


class StoryText(BaseModel):
    en: str
    de: str | None = None


class Story(OwnedDocument, Trashable):
    noun = "story"
    title: str
    text: StoryText
    drawing_id: PydanticObjectId | None = None
    image_file_id: PydanticObjectId | None = None
    image_sha256: str | None = None
    is_favorite: bool = False
    favorite: int = 0  # 1 when is_favorite: what analytics `$sum`s
    generation_time_ms: int | None = None

    blob_fields: ClassVar[tuple[str, ...]] = ("image_sha256",)

    class Settings:
        name = "stories"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("is_favorite", ASCENDING)], name="owner_favorite"
            ),
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("owner_id", ASCENDING), ("drawing_id", ASCENDING)], name="owner_drawing"),
        ]

"""What a document needs to be moved to the trash instead of deleted, and the projection the
trash lists it by."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from beanie import PydanticObjectId
from pydantic import BaseModel, Field


class Trashable(BaseModel):
    """Mixed into the documents a delete moves to the trash. While `trashed_at` is set, every
    scope but the trash's own hides the document (`app.auth.scoping`)."""

    trashable: ClassVar[bool] = True
    trashed_at: datetime | None = None
    keep: bool = False  # pinned: retention policies never expire it


class TrashedCard(BaseModel):
    """Projection: what the trash shows of any kind (each kind fills the fields it has)."""

    id: PydanticObjectId = Field(alias="_id")
    owner_id: PydanticObjectId
    trashed_at: datetime
    title: str | None = None  # conversations, sites, stories, workflows
    name: str | None = None  # projects
    filename: str | None = None  # files
    size: int | None = None  # files
    window_bytes: int | None = None  # conversations (their window; archives add to it)
    uploaded_image: dict[str, Any] | None = None  # drawings
    files: list[dict[str, Any]] | None = None  # sites' current files

    class Settings:
        projection: ClassVar[dict[str, int]] = {
            "_id": 1,
            "owner_id": 1,
            "trashed_at": 1,
            "title": 1,
            "name": 1,
            "filename": 1,
            "size": 1,
            "window_bytes": 1,
            "uploaded_image.size": 1,
            "files.size": 1,
        }

    def label(self) -> str | None:
        return self.title or self.name or self.filename

    def bytes(self) -> int:
        if self.size is not None:
            return self.size
        if self.window_bytes is not None:
            return self.window_bytes
        if self.uploaded_image is not None:
            return int(self.uploaded_image.get("size") or 0)
        return sum(int(f.get("size") or 0) for f in self.files or [])

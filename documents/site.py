"""Generated sites with embedded version history that stores only changes.

`files` is the current manifest. Each version records only its changes (`put` with the new
blob's sha256, or `delete`); version n's manifest is rebuilt by replaying versions 1..n, starting
from the nearest checkpoint (a full manifest stored every `CHECKPOINT_EVERY` versions), so a
replay never reads more than that many versions. Bytes live in the owner's blob store
(`app/storage.py`); a site references them by sha256 (`blob_fields`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument

CHECKPOINT_EVERY = 50


class SiteFile(BaseModel):
    path: str
    sha256: str
    size: int
    content_type: str


class SiteChange(BaseModel):
    path: str
    op: Literal["put", "delete"]
    sha256: str | None = None
    size: int | None = None
    content_type: str | None = None


class SiteVersion(BaseModel):
    number: int
    changes: list[SiteChange]
    label: str | None = None
    description: str | None = None
    message_id: PydanticObjectId | None = None
    restored_from: int | None = None
    created_at: datetime
    checkpoint: list[SiteFile] | None = None


class Site(OwnedDocument):
    title: str
    description: str | None = None
    conversation_id: PydanticObjectId | None = None
    project_id: PydanticObjectId | None = None
    theme: dict[str, Any] | None = None
    files: list[SiteFile] = Field(default_factory=list)
    current_version: int = 0
    versions: list[SiteVersion] = Field(default_factory=list)
    published_version: int | None = None
    preview_file_id: PydanticObjectId | None = None

    blob_fields: ClassVar[tuple[str, ...]] = (
        "files.sha256",
        "versions.changes.sha256",
        "versions.checkpoint.sha256",
    )

    class Settings:
        name = "sites"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
        ]

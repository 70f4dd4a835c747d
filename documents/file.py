"""File handles: a user's named view onto a blob in their content-addressed store."""

from __future__ import annotations

from typing import ClassVar

from beanie import PydanticObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument
from documents.folder import Placement, placement_indexes
from documents.trash import Trashable


class FileLinks(BaseModel):
    """What a file was made for; `GET /workflows/{id}/files` and friends read these."""

    workflow_id: PydanticObjectId | None = None
    drawing_id: PydanticObjectId | None = None
    conversation_id: PydanticObjectId | None = None
    generation_id: PydanticObjectId | None = None
    site_id: PydanticObjectId | None = None


class StoredFile(OwnedDocument, Trashable, Placement):
    noun = "file"
    filename: str
    content_type: str
    size: int
    sha256: str
    kind: str | None = None
    links: FileLinks = FileLinks()

    blob_fields: ClassVar[tuple[str, ...]] = ("sha256",)

    class Settings:
        name = "files"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("owner_id", ASCENDING), ("sha256", ASCENDING)], name="owner_sha256"),
            IndexModel(
                [("owner_id", ASCENDING), ("links.workflow_id", ASCENDING)], name="owner_workflow"
            ),
            *placement_indexes("_id"),
        ]

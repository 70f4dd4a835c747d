"""Folders and the placement every organisable item carries (conversations, sites, files).

An item names its folder (`folder_id`) and carries its tags; a folder's counts and a tag's
count are computed from the items (`app/folders/service.py`), so no counter can drift from what
is there. `pinned` is stored as true or null, never false, so lists sort pinned items first with
one index and every unpinned item sorts the same (a missing field sorts as null).
"""

from __future__ import annotations

from typing import Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from documents.base import OwnedDocument

MAX_FOLDER_DEPTH = 8
MAX_FOLDERS = 1000
MAX_TAGS = 20
MAX_TAG_LENGTH = 64

ItemKind = Literal["conversations", "sites", "files"]


class Placement(BaseModel):
    """Mixed into the items a folder holds."""

    folder_id: PydanticObjectId | None = None
    tags: list[str] = Field(default_factory=list)
    pinned: bool | None = None  # true or null (see the module's docstring)


class SmartQuery(BaseModel):
    """A saved search: its items are the search's matches, live."""

    q: str | None = None
    tag: str | None = None
    kind: ItemKind | Literal["messages"] | None = None


class Folder(OwnedDocument):
    noun = "folder"
    name: str
    parent_id: PydanticObjectId | None = None
    query: SmartQuery | None = None

    class Settings:
        name = "folders"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("parent_id", ASCENDING)], name="owner_parent"),
        ]


def placement_indexes(sort_field: str) -> list[IndexModel]:
    """The indexes an organisable collection adds: its list (pinned first), and the folder and
    tag filters (which also serve the counts)."""
    order = [(sort_field, -1), ("_id", -1)] if sort_field != "_id" else [("_id", -1)]
    return [
        IndexModel([("owner_id", ASCENDING), ("pinned", -1), *order], name="owner_pinned_list"),
        IndexModel([("owner_id", ASCENDING), ("folder_id", ASCENDING)], name="owner_folder"),
        IndexModel([("owner_id", ASCENDING), ("tags", ASCENDING)], name="owner_tags"),
    ]

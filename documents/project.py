"""Projects group a user's work; a public project is readable by every signed-in user."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument
from documents.trash import Trashable

ProjectStatus = Literal["draft", "active", "completed", "archived"]
Visibility = Literal["private", "public"]


class Project(OwnedDocument, Trashable):
    noun = "project"
    name: str
    description: str | None = None
    status: ProjectStatus = "draft"
    visibility: Visibility = "private"
    config: dict[str, Any] | None = None

    public_when: ClassVar[dict[str, Any] | None] = {"visibility": "public"}

    class Settings:
        name = "projects"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("visibility", ASCENDING), ("_id", DESCENDING)], name="visibility"),
        ]

"""Legal holds and the audit trail: records of administrators' decisions about users' data,
kept apart from the data itself (an account's export and deletion never touch them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import StoredDocument, utcnow


class LegalHold(StoredDocument):
    """While a user has a hold that is not released, nothing of theirs is purged by any path.
    Released holds stay, with who released them and when."""

    user_id: PydanticObjectId
    reason: str
    created_by: PydanticObjectId
    created_at: datetime = Field(default_factory=utcnow)
    released_at: datetime | None = None
    released_by: PydanticObjectId | None = None

    class Settings:
        name = "legal_holds"
        indexes = [
            IndexModel([("user_id", ASCENDING), ("released_at", ASCENDING)], name="user_active"),
        ]


class AuditEntry(StoredDocument):
    """One administrator's action or one purge: appended, never changed."""

    at: datetime = Field(default_factory=utcnow)
    action: str  # hold.create, hold.release, trash.purge, trash.empty, trash.expire, ...
    actor_id: PydanticObjectId | None = None  # None: a job
    user_id: PydanticObjectId | None = None  # whose data it was about
    details: dict[str, Any] = Field(default_factory=dict)  # ids, counts, reasons

    class Settings:
        name = "audit"
        indexes = [
            IndexModel([("action", ASCENDING), ("_id", DESCENDING)], name="action_newest"),
            IndexModel([("user_id", ASCENDING), ("_id", DESCENDING)], name="user_newest"),
        ]

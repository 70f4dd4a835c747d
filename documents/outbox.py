"""Every mail the app sends, with the hash of the single-use token it carries (never the token)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import TimestampedDocument


class OutboxMessage(TimestampedDocument):
    to: str
    user_id: PydanticObjectId
    kind: Literal["verify", "reset"]
    token_hash: str
    expires_at: datetime
    used_at: datetime | None = None
    sent_at: datetime | None = None

    class Settings:
        name = "outbox"
        indexes = [
            IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
            IndexModel([("expires_at", ASCENDING)], name="expires_at"),
        ]

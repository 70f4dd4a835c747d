from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from app.schemas import IdStr
from documents.retention import RetentionRules


class RetentionIn(RetentionRules):
    """A policy as clients send it: the stored rules' fields, unknown ones refused."""


class RetentionRead(RetentionRules):
    updated_at: datetime | None = None


class RetentionPreviewItem(BaseModel):
    user_id: IdStr
    kind: str
    items: int
    bytes: int


class RetentionPreview(BaseModel):
    """What the policy would move to the trash now, per user and kind; nothing was changed."""

    items: list[RetentionPreviewItem]
    total_items: int
    total_bytes: int
    users: int
    held_users: int  # skipped: under a legal hold

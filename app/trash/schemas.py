from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from app.schemas import IdStr

TrashKind = Literal["conversation", "site", "file", "drawing", "story", "workflow", "project"]


class TrashItemRead(BaseModel):
    """Something in the trash: what it was, when it was deleted and when it will be purged."""

    kind: TrashKind
    id: IdStr
    title: str | None
    deleted_at: datetime
    purge_at: datetime
    bytes: int  # what it holds (messages, files, images): about what purging it frees


class TrashEmptied(BaseModel):
    purged: int

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.pagination import Page
from app.schemas import IdStr

HitKind = Literal["conversation", "message", "site", "file"]


class Hit(BaseModel):
    """One found (or listed) item. A message hit names its conversation and the branch it is
    on; the others are the item itself."""

    kind: HitKind
    id: IdStr = Field(description="The item's id; a message's own id for a message")
    title: str | None = Field(description="A conversation's or site's title, a file's name")
    created_at: datetime
    updated_at: datetime | None = None
    folder_id: IdStr | None = None
    tags: list[str] = Field(default_factory=list)
    pinned: bool = False
    score: float | None = Field(default=None, description="Relevance: higher is better")
    snippet: str | None = Field(default=None, description="The text around the first match")
    highlights: list[list[int]] = Field(
        default_factory=list, description="[start, end) of each match, in `snippet`'s characters"
    )
    conversation_id: IdStr | None = None
    conversation_title: str | None = None
    message_id: IdStr | None = None
    role: str | None = None
    on_current_branch: bool | None = None
    branch_path: list[IdStr] | None = Field(
        default=None, description="Message ids from the root to this message"
    )


class HitPage(Page[Hit]):
    count: int = Field(description="Hits (or a folder's items) across all pages")
    truncated: bool = Field(
        default=False,
        description="The search stopped at its bound of candidates: narrow it to see the rest",
    )

"""AI generation jobs and their state machine: queued → running → succeeded | failed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument

GenerationStatus = Literal["queued", "running", "succeeded", "failed"]
GenerationKind = Literal["ui", "website", "image", "story", "scene"]

# The statuses a generation may move to from each status.
TRANSITIONS: dict[str, set[str]] = {
    "queued": {"running"},
    "running": {"succeeded", "failed"},
    "succeeded": set(),
    "failed": set(),
}


class GenerationOutput(BaseModel):
    code: str | None = None
    file_ids: list[PydanticObjectId] = Field(default_factory=list)


class GenerationUsage(BaseModel):
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int = 0


class Generation(OwnedDocument):
    noun = "generation"
    kind: GenerationKind
    prompt: str
    status: GenerationStatus = "queued"
    error: str | None = None
    output: GenerationOutput | None = None
    model: str | None = None
    usage: GenerationUsage | None = None
    duration_ms: int | None = None
    project_id: PydanticObjectId | None = None
    conversation_id: PydanticObjectId | None = None
    message_id: PydanticObjectId | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    reservation_id: PydanticObjectId | None = None  # the budget hold of `budget_usd`
    day: str
    # Computed with each transition, so analytics `$sum`s stored fields (no `$cond`).
    succeeded: int = 0
    failed: int = 0
    timed: int = 0  # 1 once duration_ms is known
    # Events its last transition owes the outbox, set by that transition's own update and
    # cleared once recorded: a crash in between is repaired at start (`app/webhooks/events.py`).
    pending_events: list[str] = Field(default_factory=list)

    class Settings:
        name = "generations"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("status", ASCENDING)], name="owner_status"),
            IndexModel([("owner_id", ASCENDING), ("day", ASCENDING)], name="owner_day"),
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("pending_events", ASCENDING)], name="pending_events"),
        ]

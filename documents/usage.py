"""Usage events: one per AI call (or per chat message / generation that reports usage).

Computed at write time so analytics only group and sum: `day` (UTC date string),
`total_tokens`, and `cost_micros` (integer micro-dollars: exact sums, no floats, no Decimal128).
`request_id` makes recording idempotent: unique per owner and always present (generated when
the client sends none, so the unique index never meets a missing value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import OwnedDocument


class UsageEvent(OwnedDocument):
    noun = "usage event"
    request_id: str
    api_key_id: PydanticObjectId | None = None
    provider: str
    model: str
    operation: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int = 0
    latency_ms: int = 0
    status: Literal["ok", "error"] = "ok"
    errors: int = 0  # 1 when status is "error": what `$sum` counts (no `$cond`)
    source: Literal["api", "message", "generation"] = "api"
    generation_id: PydanticObjectId | None = None
    workflow_id: PydanticObjectId | None = None
    conversation_id: PydanticObjectId | None = None
    occurred_at: datetime
    day: str

    class Settings:
        name = "usage_events"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("request_id", ASCENDING)],
                unique=True,
                name="owner_request_unique",
            ),
            IndexModel([("owner_id", ASCENDING), ("day", ASCENDING)], name="owner_day"),
            IndexModel([("day", ASCENDING)], name="day"),
        ]

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


# The measures every rollup sums, in the order `app/usage/rollups.py` keeps them.
ROLLUP_MEASURES = (
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_micros",
    "latency_ms",
)
# What a rollup is kept per: `all` (one row per owner and day) and the keys reports group by.
ROLLUP_DIMENSIONS = {
    "all": None,
    "model": "model",
    "provider": "provider",
    "operation": "operation",
    "api_key": "api_key_id",
}


class UsageRollup(OwnedDocument):
    """The sums of one owner's usage events of one UTC day that share one key of one dimension.

    `_id` is `<owner>:<day>:<dimension>:<key>` (an empty key for "none", e.g. no API key), so
    every writer addresses the same document without a lookup. `batches` holds the ids of the
    ingest batches being applied right now: an increment is guarded by "this batch is not in
    `batches` yet", which makes re-applying a batch after a crash a no-op (README "Usage and
    analytics", the invariant).
    """

    noun = "usage rollup"
    id: str  # type: ignore[assignment]
    day: str
    dim: Literal["all", "model", "provider", "operation", "api_key"]
    key: str | None = None
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int = 0
    latency_ms: int = 0
    batches: list[PydanticObjectId] = []

    class Settings:
        name = "usage_rollups"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("dim", ASCENDING), ("day", ASCENDING)],
                name="owner_dim_day",
            ),
            IndexModel([("dim", ASCENDING), ("day", ASCENDING)], name="dim_day"),
        ]


class UsageBatch(OwnedDocument):
    """The journal of one ingest batch whose rollup increments may not have landed yet.

    Written before the events, deleted once their increments are applied. One that outlives
    `ROLLUP_FOLD_AFTER_S` belongs to a writer that died (or stalled): the fold applies it, which
    is safe to repeat thanks to the rollups' `batches` guard. Its `_id` is the batch id.
    """

    noun = "usage batch"
    event_ids: list[PydanticObjectId]
    claimed_at: datetime | None = None  # set by the fold that applies it

    class Settings:
        name = "usage_batches"
        indexes = [IndexModel([("owner_id", ASCENDING), ("_id", ASCENDING)], name="owner_batch")]

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
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from documents.base import OwnedDocument

UsageStatus = Literal["ok", "error"]
UsageSource = Literal["api", "message", "generation"]


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
    status: UsageStatus = "ok"
    errors: int = 0  # 1 when status is "error": what `$sum` counts (no `$cond`)
    source: UsageSource = "api"
    generation_id: PydanticObjectId | None = None
    workflow_id: PydanticObjectId | None = None
    conversation_id: PydanticObjectId | None = None
    # Settling a reservation: which one, what it held (released by this event), and whether the
    # actual cost was above it.
    reservation_id: PydanticObjectId | None = None
    reservation_key_id: PydanticObjectId | None = None  # the key whose budget the hold was on
    reservation_month: str | None = None  # the month whose budget the hold was on
    reserved_micros: int = 0
    overrun: bool = False
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
# The keyed dimensions of a rollup → the event field that gives the key.
ROLLUP_DIMENSIONS = {
    "model": "model",
    "provider": "provider",
    "operation": "operation",
    "api_key": "api_key_id",
}


class RollupMeasures(BaseModel):
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int = 0
    latency_ms: int = 0


class UsageRollup(OwnedDocument):
    """One owner's usage of one UTC day: the sums of all its events (`total`) and per key of each
    dimension (`model`, `provider`, `operation`, `api_key`), e.g.
    `model: {"gpt-4o": {calls, errors, prompt_tokens, …}}`.

    `_id` is `<owner>:<day>`, so writers address it without a lookup, and a batch of events of
    one day is one `$inc` for every dimension at once. Keys are stored percent-encoded as field
    names (`app/usage/rollups.py`; `~` alone is "none", e.g. no API key). `batches` holds the
    ingest batches being applied right now: an increment is guarded by "this batch is not in
    `batches` yet", so re-applying one after a crash is a no-op (the invariant:
    `app/usage/rollups.py`, README "Usage and analytics").
    """

    noun = "usage rollup"
    id: str  # type: ignore[assignment]
    day: str
    total: RollupMeasures = RollupMeasures()
    model: dict[str, RollupMeasures] = {}
    provider: dict[str, RollupMeasures] = {}
    operation: dict[str, RollupMeasures] = {}
    api_key: dict[str, RollupMeasures] = {}
    batches: list[PydanticObjectId] = []

    class Settings:
        name = "usage_rollups"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("day", ASCENDING)], name="owner_day"),
            IndexModel([("day", ASCENDING)], name="day"),
        ]


class RollupBatches(BaseModel):
    """Projection: a rollup's batch guard, for the sweep of ids whose writer died."""

    id: str = Field(alias="_id")
    owner_id: PydanticObjectId
    batches: list[PydanticObjectId] = []


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

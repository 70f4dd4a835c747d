"""Recording events in the outbox (`events`), from the writes that change the state.

- A generation's final transition adds the event's type to the generation's `pending_events`
  in the same update that sets its status; the event is then recorded and the type pulled.
  A crash in between leaves the type on the generation, and `relay_pending` (at start and on
  every dispatcher round) records it: no event is lost, none is recorded twice (its id is
  derived from the generation).
- Budget thresholds are seen by the guarded increment that crosses them: it returns the new
  total, so exactly one of any number of racing holds sees each crossing. The event's id is
  the budget (one per owner, month and key) and the threshold: at most once per month.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import owned
from app.engine import insert_unless_exists
from app.money import to_usd_text
from documents.base import utcnow
from documents.generation import Generation
from documents.webhook import Event

BUDGET_THRESHOLDS = (50, 80, 100)
RELAY_BATCH = 200


async def record(owner_id: ObjectId, event_id: str, type_: str, data: dict[str, Any]) -> bool:
    """Record the event once; False when it already was."""
    now = utcnow()
    event = owned(Event, owner_id).new(
        id=event_id, type=type_, data=data, created_at=now, updated_at=now
    )
    return await insert_unless_exists(event)


def generation_event(generation: Generation, type_: str) -> tuple[str, dict[str, Any]]:
    data = {
        "generation_id": str(generation.id),
        "kind": generation.kind,
        "status": generation.status,
        "model": generation.model,
        "error": generation.error,
        "duration_ms": generation.duration_ms,
        "completed_at": generation.completed_at.isoformat() if generation.completed_at else None,
        "file_ids": [str(f) for f in generation.output.file_ids] if generation.output else [],
    }
    return f"generation:{generation.id}:{type_.rsplit('.', 1)[1]}", data


async def relay(generation: Generation) -> None:
    """Record what the generation's last transition owes the outbox, then clear it."""
    for type_ in list(generation.pending_events):
        event_id, data = generation_event(generation, type_)
        await record(generation.owner_id, event_id, type_, data)
        await owned(Generation, generation.owner_id).update_one(
            generation.id, {"$pull": {"pending_events": type_}}
        )


async def relay_pending() -> int:
    """Every generation, of every owner, whose event a crash kept from the outbox."""
    owing = (
        await Generation.find(
            {"pending_events": {"$in": ["generation.succeeded", "generation.failed"]}}
        )
        .limit(RELAY_BATCH)
        .to_list()
    )
    for generation in owing:
        await relay(generation)
    return len(owing)


def crossed(before: int, after: int, limit: int) -> list[int]:
    """The thresholds (percent of `limit`) a total moving from `before` to `after` passed."""
    if limit <= 0:
        return []
    return [t for t in BUDGET_THRESHOLDS if before * 100 < t * limit <= after * 100]


async def budget_thresholds(
    owner_id: ObjectId,
    budget_id: str,
    *,
    before: int,
    after: int,
    limit: int,
    month: str,
    api_key_id: ObjectId | None,
) -> None:
    for threshold in crossed(before, after, limit):
        await record(
            owner_id,
            f"budget:{budget_id}:{threshold}",
            "budget.threshold",
            {
                "threshold_percent": threshold,
                "month": month,
                "scope": "api_key" if api_key_id else "user",
                "api_key_id": str(api_key_id) if api_key_id else None,
                "limit_usd": to_usd_text(limit),
                "committed_usd": to_usd_text(after),
            },
        )

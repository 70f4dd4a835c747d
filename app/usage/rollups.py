"""Usage rollups: per owner, UTC day, dimension and key, the sums of the usage events.

The invariant (README "Usage and analytics"): for every rollup document,

    its sums = the sums of the events of the batches it has applied,

and every batch of events is applied to each of its rollups exactly once:

1. the writer journals the batch (`UsageBatch`, listing the event ids) before inserting events;
2. it inserts the events, then applies the batch: one unordered bulk of `$inc` upserts, each
   guarded by "this batch id is not in the rollup's `batches`" and pushing the id;
3. it deletes the journal (only if no fold has claimed it) and pulls the id from `batches`.

A writer killed anywhere leaves its journal behind. `fold_pending` claims journals older than
the fold grace and applies them again: increments that landed are skipped by the guard, the
others land now. Reports fold the caller's stale journals before reading, the cleanup job and the
app's start fold everyone's. What stays open: one bulk command still running when the grace ends
(two minutes by default) could meet a fold that has already pulled its id.

Raw driver: an unordered bulk of guarded `$inc` upserts, and the duplicate-key answers of the
individual operations in it, are what Beanie cannot say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.auth.scoping import owned
from app.engine import is_unique_error
from documents.base import utcnow
from documents.usage import (
    ROLLUP_DIMENSIONS,
    ROLLUP_MEASURES,
    UsageBatch,
    UsageEvent,
    UsageRollup,
)

FOLD_AFTER = timedelta(minutes=2)
NO_KEY = ""  # the rollup id's key part for "none" (no API key); never a real key

RollupKey = tuple[ObjectId, str, str, str | None]  # owner, day, dimension, key
Sums = list[int]  # in ROLLUP_MEASURES order


def rollup_id(owner_id: ObjectId, day: str, dim: str, key: str | None) -> str:
    return f"{owner_id}:{day}:{dim}:{NO_KEY if key is None else key}"


def event_measures(event: dict[str, Any] | UsageEvent) -> Sums:
    """What one event adds to each of its rollups."""
    get = event.get if isinstance(event, dict) else lambda name, _=0: getattr(event, name)
    return [
        1,
        get("errors", 0),
        get("prompt_tokens", 0),
        get("completion_tokens", 0),
        get("total_tokens", 0),
        get("cost_micros", 0),
        get("latency_ms", 0),
    ]


def add_event(sums: dict[RollupKey, Sums], event: dict[str, Any] | UsageEvent) -> None:
    """Add one event (a document or its raw fields) to every rollup it belongs to."""
    raw = event if isinstance(event, dict) else None
    values = event_measures(event)

    def field(name: str) -> Any:
        return raw.get(name) if raw is not None else getattr(event, name)

    owner, day = ObjectId(field("owner_id")), field("day")
    for dim, source in ROLLUP_DIMENSIONS.items():
        value = None if source is None else field(source)
        key = None if value is None else str(value)
        total = sums.setdefault((owner, day, dim, key), [0] * len(ROLLUP_MEASURES))
        for i, amount in enumerate(values):
            total[i] += amount


def sums_of(events: Iterable[dict[str, Any] | UsageEvent]) -> dict[RollupKey, Sums]:
    sums: dict[RollupKey, Sums] = {}
    for event in events:
        add_event(sums, event)
    return sums


def rollup_document(key: RollupKey, sums: Sums) -> dict[str, Any]:
    """The stored shape of one rollup (what `rebuild` writes)."""
    owner, day, dim, value = key
    now = utcnow()
    return {
        "_id": rollup_id(owner, day, dim, value),
        "owner_id": owner,
        "day": day,
        "dim": dim,
        "key": value,
        **dict(zip(ROLLUP_MEASURES, sums, strict=True)),
        "batches": [],
        "created_at": now,
        "updated_at": now,
    }


def _apply_ops(batch_id: ObjectId, sums: dict[RollupKey, Sums], *, upsert: bool) -> list[UpdateOne]:
    now = utcnow()
    ops = []
    for (owner, day, dim, value), amounts in sums.items():
        update: dict[str, Any] = {
            "$inc": dict(zip(ROLLUP_MEASURES, amounts, strict=True)),
            "$push": {"batches": batch_id},
            "$set": {"updated_at": now},
        }
        if upsert:
            update["$setOnInsert"] = {"day": day, "dim": dim, "key": value, "created_at": now}
        guard = {"_id": rollup_id(owner, day, dim, value), "batches": {"$ne": batch_id}}
        ops.append(UpdateOne(owned(UsageRollup, owner).filter(guard), update, upsert=upsert))
    return ops


async def apply_batch(batch_id: ObjectId, events: Sequence[dict[str, Any] | UsageEvent]) -> None:
    """Add the batch's events to their rollups, once per rollup however often it is called.

    An upsert that meets a duplicate key found the rollup already there: created by a racing
    writer, or holding this batch already. Those are sent again as plain guarded updates: one
    that matches nothing had the batch applied."""
    sums = sums_of(events)
    if not sums:
        return
    keys = list(sums)
    collection = UsageRollup.get_pymongo_collection()
    try:
        await collection.bulk_write(_apply_ops(batch_id, sums, upsert=True), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(not is_unique_error(e.get("code"), e.get("errmsg")) for e in errors):
            raise
        again = {keys[e["index"]]: sums[keys[e["index"]]] for e in errors}
        await collection.bulk_write(_apply_ops(batch_id, again, upsert=False), ordered=False)


async def release_batch(owner_id: ObjectId, batch_id: ObjectId, days: Iterable[str]) -> None:
    """Forget the batch id in the rollups it was applied to (keeps `batches` short)."""
    await owned(UsageRollup, owner_id).update_many(
        {"day": {"$in": sorted(set(days))}, "batches": batch_id}, {"$pull": {"batches": batch_id}}
    )


@dataclass
class FoldReport:
    batches: int = 0
    events: int = 0


async def fold_pending(
    owner_id: ObjectId | None = None, *, older_than: timedelta = FOLD_AFTER
) -> FoldReport:
    """Apply the journals of batches whose writer died (older than `older_than`), of one owner
    or of everyone. Each journal is claimed first, so two folds never apply one batch."""
    report = FoldReport()
    cutoff = ObjectId.from_datetime(utcnow() - older_than)
    stale = {"_id": {"$lt": cutoff}, "claimed_at": None}
    if owner_id is not None:
        journals = await owned(UsageBatch, owner_id).find(stale).to_list()
    else:
        journals = await UsageBatch.find(stale).to_list()
    for journal in journals:
        scope = owned(UsageBatch, journal.owner_id)
        claimed = await scope.update(
            journal.id, {"$set": {"claimed_at": utcnow()}}, extra={"claimed_at": None}
        )
        if not claimed:
            continue  # another fold took it, or its writer finished meanwhile
        events = (
            await owned(UsageEvent, journal.owner_id)
            .find({"_id": {"$in": journal.event_ids}})
            .to_list()
        )
        await apply_batch(journal.id, events)
        await scope.delete_many({"_id": journal.id})
        await release_batch(journal.owner_id, journal.id, (event.day for event in events))
        report.batches += 1
        report.events += len(events)
    return report

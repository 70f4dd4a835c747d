"""Recompute usage rollups from the events, for a period and/or one owner.

The result is what the incremental path gives (both add events with `rollups.add_event`), so
`genstore analytics rebuild` can be run at any time to prove or restore the rollups; the
migration that introduced rollups runs it for the events recorded before them. It writes each
recomputed rollup whole and deletes the rollups of the period that no longer have events.
Run it while no events of the period are being recorded: an increment that lands between its
read and its write is overwritten (the days before today are safe; today is, once ingest pauses).

Raw driver: it streams up to millions of events as plain dicts (no document per event) and
replaces rollups in bulk; it takes the database as a parameter so a migration can run it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import DeleteMany, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from app.auth.scoping import owned
from app.usage.rollups import DayKey, Increments, add_event, rollup_document
from documents.usage import UsageEvent, UsageRollup

READ_BATCH = 10_000
WRITE_BATCH = 1_000
EVENT_FIELDS = {
    "_id": 0,
    "owner_id": 1,
    "day": 1,
    "provider": 1,
    "model": 1,
    "operation": 1,
    "api_key_id": 1,
    "errors": 1,
    "prompt_tokens": 1,
    "completion_tokens": 1,
    "total_tokens": 1,
    "cost_micros": 1,
    "latency_ms": 1,
}


@dataclass
class RebuildReport:
    events: int = 0
    rollups: int = 0
    removed: int = 0


def _period(first_day: str | None, last_day: str | None) -> dict[str, Any]:
    days: dict[str, str] = {}
    if first_day:
        days["$gte"] = first_day
    if last_day:
        days["$lte"] = last_day
    return {"day": days} if days else {}


async def rebuild_rollups(
    db: AsyncDatabase,
    *,
    first_day: str | None = None,
    last_day: str | None = None,
    owner_id: ObjectId | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RebuildReport:
    """Recompute the rollups of [first_day, last_day] (all days when unset) of one owner (all
    when None). `progress(phase, done, total)` is called as the work advances."""
    report = RebuildReport()
    when = _period(first_day, last_day)
    events = db[UsageEvent.Settings.name]
    stored = db[UsageRollup.Settings.name]
    event_filter = owned(UsageEvent, owner_id).filter(when) if owner_id else when
    rollup_filter = owned(UsageRollup, owner_id).filter(when) if owner_id else when

    total = await events.count_documents(event_filter)
    sums: dict[DayKey, Increments] = {}
    async for raw in events.find(event_filter, EVENT_FIELDS, batch_size=READ_BATCH):
        add_event(sums, raw)
        report.events += 1
        if progress and report.events % READ_BATCH == 0:
            progress("events", report.events, total)
    if progress:
        progress("events", report.events, total)

    documents = [rollup_document(key, value) for key, value in sums.items()]
    for start in range(0, len(documents), WRITE_BATCH):
        chunk = documents[start : start + WRITE_BATCH]
        await stored.bulk_write(
            [
                ReplaceOne(
                    owned(UsageRollup, doc["owner_id"]).filter({"_id": doc["_id"]}),
                    doc,
                    upsert=True,
                )
                for doc in chunk
            ],
            ordered=False,
        )
        report.rollups += len(chunk)
        if progress:
            progress("rollups", report.rollups, len(documents))

    kept = {doc["_id"] for doc in documents}
    stale: dict[ObjectId, list[str]] = {}
    async for row in stored.find(rollup_filter, {"_id": 1, "owner_id": 1}):
        if row["_id"] not in kept:
            stale.setdefault(row["owner_id"], []).append(row["_id"])
    deletes = [
        DeleteMany(owned(UsageRollup, owner).filter({"_id": {"$in": ids}}))
        for owner, ids in stale.items()
    ]
    if deletes:
        result = await stored.bulk_write(deletes, ordered=False)
        report.removed = result.deleted_count
    return report

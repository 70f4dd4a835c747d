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
others land now. The app folds everyone's stale journals at start and once per grace after,
and so do `cleanup` and `genstore analytics rebuild`. What stays open: one bulk command still
running when the grace ends (two minutes by default) could meet a fold that already pulled its id.

Raw driver: an unordered bulk of guarded `$inc` upserts, and the duplicate-key answers of the
individual operations in it, are what Beanie cannot say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

from bson import Int64, ObjectId
from pymongo import UpdateOne
from pymongo.results import BulkWriteResult

from app.auth.scoping import owned
from app.engine import insert_rows_unless_exist, retrying
from documents.base import OwnedDocument, utcnow
from documents.budget import SpendBudget
from documents.usage import (
    ROLLUP_DIMENSIONS,
    ROLLUP_MEASURES,
    RollupBatches,
    UsageBatch,
    UsageEvent,
    UsageRollup,
)

FOLD_AFTER = timedelta(minutes=2)
NO_KEY = "~"  # the field name of "none" (no API key); a real "~" is stored as %7E

DayKey = tuple[ObjectId, str]  # owner, day
Increments = dict[str, int]  # dotted path in the rollup ("model.gpt-4o.calls") → amount


def encode_key(key: str | None) -> str:
    """A key as a field name: percent-encoded UTF-8 for everything but letters, digits and
    `-_` (no `.` path separator, no `$`, no control characters); `~` alone is none."""
    if key is None:
        return NO_KEY
    return quote(key, safe="").replace(".", "%2E").replace("~", "%7E")


def decode_key(name: str) -> str | None:
    return None if name == NO_KEY else unquote(name)


def rollup_id(owner_id: ObjectId, day: str) -> str:
    return f"{owner_id}:{day}"


def add_event(sums: dict[DayKey, Increments], event: dict[str, Any] | UsageEvent) -> None:
    """Add one event (a document or its raw fields) to its day's increments: under `total` and
    under its key of each dimension."""
    raw = event if isinstance(event, dict) else None

    def field(name: str, default: Any = None) -> Any:
        return raw.get(name, default) if raw is not None else getattr(event, name)

    values = (
        1,
        field("errors", 0),
        field("prompt_tokens", 0),
        field("completion_tokens", 0),
        field("total_tokens", 0),
        field("cost_micros", 0),
        field("latency_ms", 0),
    )
    increments = sums.setdefault((ObjectId(field("owner_id")), field("day")), {})
    prefixes = ["total"]
    for dim, source in ROLLUP_DIMENSIONS.items():
        value = field(source)
        prefixes.append(f"{dim}.{encode_key(None if value is None else str(value))}")
    for prefix in prefixes:
        for name, amount in zip(ROLLUP_MEASURES, values, strict=True):
            path = f"{prefix}.{name}"
            increments[path] = increments.get(path, 0) + amount


def sums_of(events: Iterable[dict[str, Any] | UsageEvent]) -> dict[DayKey, Increments]:
    sums: dict[DayKey, Increments] = {}
    for event in events:
        add_event(sums, event)
    return sums


def rollup_document(key: DayKey, increments: Increments) -> dict[str, Any]:
    """The stored shape of one day's rollup (what `rebuild` writes, what increments build)."""
    owner, day = key
    now = utcnow()
    doc: dict[str, Any] = {"_id": rollup_id(owner, day), "owner_id": owner, "day": day}
    doc.update({dim: {} for dim in ROLLUP_DIMENSIONS})
    for path, amount in increments.items():
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = Int64(amount)
    return {**doc, "batches": [], "created_at": now, "updated_at": now}


@dataclass
class Target:
    """One document a batch adds to: its owner, its increments, and its empty form."""

    owner_id: ObjectId
    increments: Increments
    empty: dict[str, Any]


def rollup_targets(events: Iterable[dict[str, Any] | UsageEvent]) -> dict[str, Target]:
    return {
        rollup_id(*key): Target(key[0], increments, rollup_document(key, {}))
        for key, increments in sums_of(events).items()
    }


def budget_targets(events: Iterable[UsageEvent]) -> dict[str, Target]:
    """What the events add to their owners' spend budgets (and their keys'): the cost is spent,
    and a settled reservation's hold is released in the same increment."""
    targets: dict[str, Target] = {}

    def add(owner: ObjectId, month: str, key: Any, amounts: dict[str, int]) -> None:
        target_id = budget_id(owner, month, key)
        if target_id not in targets:
            empty = {
                "_id": target_id,
                "owner_id": owner,
                "month": month,
                "api_key_id": key,
                "spent_micros": Int64(0),
                "reserved_micros": Int64(0),
                "committed_micros": Int64(0),
                "batches": [],
            }
            targets[target_id] = Target(owner, {}, empty)
        sums = targets[target_id].increments
        for field, amount in amounts.items():
            sums[field] = sums.get(field, 0) + amount

    for event in events:
        owner, month = ObjectId(event.owner_id), event.day[:7]
        cost, held = event.cost_micros, event.reserved_micros
        spend = {"spent_micros": cost, "committed_micros": cost}
        release = {"reserved_micros": -held, "committed_micros": -held}
        add(owner, month, None, spend)
        if event.api_key_id is not None:
            add(owner, month, event.api_key_id, spend)
        if held:
            held_month = event.reservation_month or month
            add(owner, held_month, None, release)
            if event.reservation_key_id is not None:
                add(owner, held_month, event.reservation_key_id, release)
    return targets


def budget_id(owner_id: ObjectId, month: str, api_key_id: ObjectId | None = None) -> str:
    return f"{owner_id}:{month}" + ("" if api_key_id is None else f":{api_key_id}")


def _apply_ops(
    model: type[OwnedDocument], batch_id: ObjectId, targets: dict[str, Target]
) -> list[UpdateOne]:
    now = utcnow()
    ops = []
    # In `_id` order, so that two batches lock the documents they share in the same order
    # (fewer deadlocks on engines that lock rows, README "Engines").
    for target_id, target in sorted(targets.items()):
        # 64-bit amounts: a sum that outgrows 32 bits must not wrap (some engines wrap a
        # 32-bit field's `$inc`, README "Engines"; MongoDB promotes it).
        update = {
            "$inc": {path: Int64(amount) for path, amount in target.increments.items()},
            "$push": {"batches": batch_id},
            "$set": {"updated_at": now},
        }
        guard = {"_id": target_id, "batches": {"$ne": batch_id}}
        ops.append(UpdateOne(owned(model, target.owner_id).filter(guard), update))
    return ops


async def apply_guarded(
    model: type[OwnedDocument], batch_id: ObjectId, targets: dict[str, Target]
) -> None:
    """Add each target's increments once per batch however often it is called: one guarded
    `$inc` per document.

    The common case is one command. When fewer documents matched than were sent, one did not
    exist yet (or already holds this batch): the missing ones are created empty (a duplicate
    means another writer created it) and the guarded updates sent again, where the ones that
    landed the first time match nothing. No upsert: two racing upserts of one `_id` and the
    reply to a refused one are where engines differ (README "Engines")."""
    if not targets:
        return
    collection = model.get_pymongo_collection()

    async def apply() -> BulkWriteResult:
        # Guarded by the batch id: repeating it (the transient-answer policy) adds nothing twice.
        return await collection.bulk_write(_apply_ops(model, batch_id, targets), ordered=False)

    if (await retrying(apply)).matched_count == len(targets):
        return
    now = utcnow()
    empties = [{"created_at": now, "updated_at": now, **t.empty} for t in targets.values()]
    await insert_rows_unless_exist(collection, empties)
    await retrying(apply)


async def apply_batch(batch_id: ObjectId, events: Sequence[UsageEvent]) -> None:
    """Add the batch's events to their days' rollups and their months' spend budgets."""
    await apply_guarded(UsageRollup, batch_id, rollup_targets(events))
    await apply_guarded(SpendBudget, batch_id, budget_targets(events))


async def release_batch(owner_id: ObjectId, batch_id: ObjectId, days: Iterable[str]) -> None:
    """Forget the batch id where it was applied (keeps `batches` short)."""
    days = set(days)
    if not days:
        return
    pull = {"$pull": {"batches": batch_id}}
    ids = sorted(rollup_id(owner_id, day) for day in days)
    await owned(UsageRollup, owner_id).update_many({"_id": {"$in": ids}, "batches": batch_id}, pull)
    months = sorted({day[:7] for day in days})
    await owned(SpendBudget, owner_id).update_many(
        {"month": {"$in": months}, "batches": batch_id}, pull
    )


@dataclass
class FoldReport:
    batches: int = 0
    events: int = 0
    swept: int = 0  # batch ids pulled from rollups whose writer died after its journal


async def fold_pending(
    owner_id: ObjectId | None = None, *, older_than: timedelta = FOLD_AFTER
) -> FoldReport:
    """Apply the journals of batches whose writer died (older than `older_than`), of one owner
    or of everyone. Each journal is claimed first, so two folds never apply one batch."""
    report = FoldReport()
    # Batch ids carry their second: every batch of the second that `older_than` ago falls in.
    cutoff = ObjectId.from_datetime(utcnow() - older_than + timedelta(seconds=1))
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
    report.swept = await _sweep_batch_ids(owner_id, cutoff)
    return report


async def _sweep_batch_ids(owner_id: ObjectId | None, cutoff: ObjectId) -> int:
    """Pull the batch ids older than `cutoff` that have no journal left: their writer deleted
    the journal (so the increments landed) and died before pulling the id."""
    old = {"batches": {"$lt": cutoff}}
    if owner_id is not None:
        found = owned(UsageRollup, owner_id).find(old, projection_model=RollupBatches)
    else:
        found = UsageRollup.find(old, projection_model=RollupBatches)
    swept = 0
    for rollup in await found.to_list():
        ids = [batch for batch in rollup.batches if batch < cutoff]
        journals = owned(UsageBatch, rollup.owner_id)
        live = set(await journals.distinct("_id", {"_id": {"$in": ids}}))
        dead = [batch for batch in ids if batch not in live]
        if dead:
            pull = {"$pullAll": {"batches": dead}}
            await owned(UsageRollup, rollup.owner_id).update_many({"_id": rollup.id}, pull)
            month = rollup.id.rsplit(":", 1)[1][:7]
            await owned(SpendBudget, rollup.owner_id).update_many({"month": month}, pull)
            swept += len(dead)
    return swept

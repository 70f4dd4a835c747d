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

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from app.auth.scoping import owned
from app.engine import insert_unless_exists
from app.money import to_usd_text
from documents.base import OwnedDocument, utcnow
from documents.generation import Generation
from documents.import_job import ImportJob
from documents.share import Share
from documents.webhook import Event, WebhookEndpoint

log = logging.getLogger(__name__)

# Set when this process records an event (or queues a delivery): its dispatcher wakes up.
WAKE = asyncio.Event()

BUDGET_THRESHOLDS = (50, 80, 100)
STORAGE_THRESHOLDS = (80, 100)
RELAY_BATCH = 200


async def record(owner_id: ObjectId, event_id: str, type_: str, data: dict[str, Any]) -> bool:
    """Record the event once; False when it already was."""
    now = utcnow()
    event = owned(Event, owner_id).new(
        id=event_id, type=type_, data=data, created_at=now, updated_at=now
    )
    recorded = await insert_unless_exists(event)
    if recorded:
        WAKE.set()  # this process's dispatcher fans it out now, not at its next poll
    return recorded


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


def import_event(job: ImportJob, _type: str) -> tuple[str, dict[str, Any]]:
    data = {
        "import_id": str(job.id),
        "status": job.status,
        "format": job.format,
        "dry_run": job.dry_run,
        "error": job.error,
        "counts": job.counts.model_dump(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    return f"import:{job.id}:finished", data


@dataclass(frozen=True)
class Owing:
    """A kind of document whose writes mark the events they owe (`pending_events`)."""

    model: type[OwnedDocument]
    types: tuple[str, ...]
    event: Callable[[Any, str], tuple[str, dict[str, Any]]]


OWING: dict[type[OwnedDocument], Owing] = {
    Generation: Owing(Generation, ("generation.succeeded", "generation.failed"), generation_event),
    ImportJob: Owing(ImportJob, ("import.finished",), import_event),
}


async def relay(document: Generation | ImportJob) -> None:
    """Record what the document's last write owes the outbox, then clear the marks."""
    owing = OWING[type(document)]
    for type_ in list(document.pending_events):
        event_id, data = owing.event(document, type_)
        await record(document.owner_id, event_id, type_, data)
        await owned(owing.model, document.owner_id).update_one(
            document.id, {"$pull": {"pending_events": type_}}
        )


async def relay_pending() -> int:
    """Every document, of every owner, whose event a crash kept from the outbox; and every
    exhausted share whose event was not recorded."""
    relayed = 0
    for owing in OWING.values():
        marked = {"pending_events": {"$in": list(owing.types)}}
        for document in await owing.model.find(marked).limit(RELAY_BATCH).to_list():
            await relay(document)  # type: ignore[arg-type]
            relayed += 1
    unrecorded = {"views_left": 0, "exhausted_recorded": {"$ne": True}}
    for share in await Share.find(unrecorded).limit(RELAY_BATCH).to_list():
        await share_exhausted(share)
        relayed += 1
    return relayed


async def share_exhausted(share: Share) -> None:
    """The view that took a share to no views left records it (once: the id is the share's)."""
    await record(
        share.owner_id,
        f"share:{share.id}:exhausted",
        "share.exhausted",
        {
            "share_id": str(share.id),
            "resource": share.resource,
            "resource_id": str(share.resource_id),
            "views": share.views,
            "max_views": share.max_views,
        },
    )
    await owned(Share, share.owner_id).update_one(share.id, {"$set": {"exhausted_recorded": True}})


def crossed(
    before: int, after: int, limit: int, thresholds: tuple[int, ...] = BUDGET_THRESHOLDS
) -> list[int]:
    """The thresholds (percent of `limit`) a total moving from `before` to `after` passed."""
    if limit <= 0:
        return []
    return [t for t in thresholds if before * 100 < t * limit <= after * 100]


async def storage_thresholds(owner_id: ObjectId, *, before: int, after: int, limit: int) -> None:
    """80 and 100 % of the storage limit, each at most once per owner and month."""
    month = utcnow().strftime("%Y-%m")
    for threshold in crossed(before, after, limit, STORAGE_THRESHOLDS):
        await record(
            owner_id,
            f"storage:{owner_id}:{month}:{threshold}",
            "storage.threshold",
            {
                "threshold_percent": threshold,
                "month": month,
                "limit_bytes": limit,
                "used_bytes": after,
            },
        )


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


class Subscriptions:
    """Who asked for `conversation.message_appended` (high volume: opt-in), as this process
    last read it. Refreshed every `WEBHOOK_POLL_S` and at once when this process changes an
    endpoint, so the append path asks memory, never the database."""

    def __init__(self) -> None:
        self.owners: set[ObjectId] = set()
        self.everyone = False

    async def refresh(self) -> None:
        wanted = {"events": MESSAGE_APPENDED, "disabled_at": None}
        owners: set[ObjectId] = set()
        everyone = False
        for endpoint in await WebhookEndpoint.find(wanted).to_list():
            owners.add(endpoint.owner_id)
            everyone |= endpoint.all_users
        self.owners, self.everyone = owners, everyone

    def wants(self, owner_id: ObjectId) -> bool:
        return self.everyone or owner_id in self.owners


SUBSCRIPTIONS = Subscriptions()
MESSAGE_APPENDED = "conversation.message_appended"


async def message_appended(
    owner_id: ObjectId, conversation_id: ObjectId, message: dict[str, Any], seq: int
) -> None:
    """Recorded after the append, and only when someone subscribes (README "Events")."""
    if not SUBSCRIPTIONS.wants(owner_id):
        return
    await record(
        owner_id,
        f"message:{message['id']}",
        MESSAGE_APPENDED,
        {
            "conversation_id": str(conversation_id),
            "message_id": str(message["id"]),
            "seq": seq,
            "role": message["role"],
            "created_at": message["created_at"].isoformat(),
        },
    )


async def watch_subscriptions(every_s: float) -> None:
    """The process's refresh of `SUBSCRIPTIONS` (a failed read keeps the last answer)."""
    while True:
        try:
            await SUBSCRIPTIONS.refresh()
        except asyncio.CancelledError:
            raise
        except Exception:  # the next refresh tries again
            log.exception("refreshing webhook subscriptions failed")
        await asyncio.sleep(every_s)

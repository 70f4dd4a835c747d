"""The clean-up job: everything that expires or falls out of use, collected safely while the API
serves traffic. Each step is idempotent and only touches what is provably unused: an upload in
flight holds a lease that the blob sweep honours (`app/storage.py`), and blobs also get a grace
period as a second line of defence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from beanie import Document

from app import storage
from app.budgets.service import release_expired
from app.jobs.conversations import delete_expired, purge_temporary
from app.lifecycle import service as lifecycle
from app.retention.service import run_retention
from app.settings import get_settings
from app.trash.service import expire_trash
from app.usage.rollups import fold_pending
from documents.base import utcnow
from documents.outbox import OutboxMessage
from documents.rate_limit import RateLimitWindow
from documents.webhook import Delivery, Event

BLOB_GRACE = timedelta(hours=1)
OUTBOX_KEEP = timedelta(days=7)


@dataclass
class CleanupReport(storage.CollectionReport):
    """What a run did: the blob store's report plus the other sweeps."""

    trash_purged: int = 0
    trash_held: int = 0  # due, but their owner is under a legal hold
    temporary_purged: int = 0
    retention_moved: int = 0  # items the retention policy moved to the trash
    expired_conversations: int = 0
    archive_buckets: int = 0
    rate_limit_windows: int = 0
    outbox_tokens: int = 0
    expired_reservations: int = 0
    usage_batches_folded: int = 0
    webhook_deliveries: int = 0
    webhook_events: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _pending_event_ids() -> list[str]:
    return await Delivery.distinct("event_id", {"status": "pending"})


async def _sweep(model: type[Document], stale: dict[str, Any], *, dry_run: bool) -> int:
    """Delete (or count, in a dry run) `model`'s documents matching `stale`: a sweep by date
    across every owner, not owner-scoped by design."""
    if dry_run:
        return await model.find(stale).count()
    result = await model.find(stale).delete()
    return result.deleted_count if result is not None else 0


async def run_cleanup(
    *,
    dry_run: bool = False,
    blob_grace: timedelta = BLOB_GRACE,
    upload_lease_timeout: timedelta = storage.LEASE_TIMEOUT,
    trash_keep: timedelta | None = None,
    temporary_keep: timedelta | None = None,
) -> CleanupReport:
    """`trash_keep`: how long deleted items stay in the trash (`TRASH_DAYS` when unset);
    `temporary_keep`: how long a temporary conversation outlives its last activity
    (`TEMPORARY_CHAT_HOURS` when unset)."""
    now = utcnow()
    settings = get_settings()
    if trash_keep is None:
        trash_keep = timedelta(days=settings.trash_days)
    if temporary_keep is None:
        temporary_keep = timedelta(hours=settings.temporary_chat_hours)
    held = await lifecycle.held_users()
    retention = await run_retention(dry_run=dry_run, held=held)
    # First, so the blobs of what they purge are collected in the same run.
    expired = await expire_trash(now, trash_keep, held=held, dry_run=dry_run)
    temporary = await purge_temporary(now, temporary_keep, held=held, dry_run=dry_run)
    conversations, buckets = await delete_expired(now, dry_run=dry_run, held=held)
    blobs = await storage.collect_unreferenced(
        storage.referenced_shas,
        grace=blob_grace,
        lease_timeout=upload_lease_timeout,
        dry_run=dry_run,
        held=held,
    )
    report = CleanupReport(
        **asdict(blobs),
        trash_purged=expired.purged,
        trash_held=expired.held,
        temporary_purged=temporary,
        retention_moved=retention.items,
        expired_conversations=conversations,
        archive_buckets=buckets,
        dry_run=dry_run,
    )
    report.rate_limit_windows = await _sweep(
        RateLimitWindow, {"expires_at": {"$lt": now}}, dry_run=dry_run
    )
    report.outbox_tokens = await _sweep(
        OutboxMessage, {"expires_at": {"$lt": now - OUTBOX_KEEP}}, dry_run=dry_run
    )
    # The webhook log: finished deliveries, then the events no pending delivery needs.
    log_before = now - timedelta(days=settings.webhook_log_days)
    report.webhook_deliveries = await _sweep(
        Delivery,
        {"status": {"$in": ["delivered", "failed"]}, "updated_at": {"$lt": log_before}},
        dry_run=dry_run,
    )
    report.webhook_events = await _sweep(
        Event,
        {
            "fanned_out": True,
            "created_at": {"$lt": log_before},
            "_id": {"$nin": await _pending_event_ids()},
        },
        dry_run=dry_run,
    )
    if not dry_run:
        report.expired_reservations = await release_expired()
        report.usage_batches_folded = (await fold_pending()).batches
    return report

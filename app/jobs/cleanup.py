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
from app.jobs.conversations import delete_expired
from app.settings import get_settings
from app.trash.service import expire_trash
from app.usage.rollups import fold_pending
from documents.base import utcnow
from documents.outbox import OutboxMessage
from documents.rate_limit import RateLimitWindow

BLOB_GRACE = timedelta(hours=1)
OUTBOX_KEEP = timedelta(days=7)


@dataclass
class CleanupReport(storage.CollectionReport):
    """What a run did: the blob store's report plus the other sweeps."""

    trash_purged: int = 0
    expired_conversations: int = 0
    archive_buckets: int = 0
    rate_limit_windows: int = 0
    outbox_tokens: int = 0
    expired_reservations: int = 0
    usage_batches_folded: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
) -> CleanupReport:
    """`trash_keep`: how long deleted items stay in the trash (`TRASH_DAYS` when unset)."""
    now = utcnow()
    keep = trash_keep if trash_keep is not None else timedelta(days=get_settings().trash_days)
    # First, so the blobs of what it purges are collected in the same run.
    purged = await expire_trash(now, keep, dry_run=dry_run)
    conversations, buckets = await delete_expired(now, dry_run=dry_run)
    blobs = await storage.collect_unreferenced(
        storage.referenced_shas,
        grace=blob_grace,
        lease_timeout=upload_lease_timeout,
        dry_run=dry_run,
    )
    report = CleanupReport(
        **asdict(blobs),
        trash_purged=purged,
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
    if not dry_run:
        report.expired_reservations = await release_expired()
        report.usage_batches_folded = (await fold_pending()).batches
    return report

"""The clean-up job: everything that expires or falls out of use, collected safely while the API
serves traffic. Each step is idempotent and only touches what is provably unused: an upload in
flight holds a lease that the blob sweep honours (`app/storage.py`), and blobs also get a grace
period as a second line of defence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId

from app import storage
from app.conversations.service import delete_expired
from app.database import get_db
from documents import OWNED_DOCUMENTS
from documents.base import utcnow
from documents.outbox import OutboxMessage
from documents.rate_limit import RATE_LIMITS_COLLECTION

BLOB_GRACE = timedelta(hours=1)
OUTBOX_KEEP = timedelta(days=7)


@dataclass
class CleanupReport:
    expired_conversations: int = 0
    archive_buckets: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    orphan_chunk_files: int = 0
    abandoned_uploads: int = 0
    rate_limit_windows: int = 0
    outbox_tokens: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def referenced_blobs(owner_id: ObjectId) -> set[str]:
    """Every sha256 an owned document of `owner_id` names through its `blob_fields`."""
    keep: set[str] = set()
    for model in OWNED_DOCUMENTS:
        for path in model.blob_fields:
            values = await model.get_pymongo_collection().distinct(path, {"owner_id": owner_id})
            keep.update(value for value in values if isinstance(value, str))
    return keep


async def run_cleanup(
    *,
    dry_run: bool = False,
    blob_grace: timedelta = BLOB_GRACE,
    upload_lease_timeout: timedelta = storage.LEASE_TIMEOUT,
) -> CleanupReport:
    now = utcnow()
    report = CleanupReport(dry_run=dry_run)
    report.expired_conversations, report.archive_buckets = await delete_expired(
        now, dry_run=dry_run
    )
    blobs = await storage.collect_unreferenced(
        referenced_blobs, grace=blob_grace, lease_timeout=upload_lease_timeout, dry_run=dry_run
    )
    report.blobs_deleted = blobs.blobs_deleted
    report.bytes_freed = blobs.bytes_freed
    report.orphan_chunk_files = blobs.orphan_chunk_files
    report.abandoned_uploads = blobs.abandoned_uploads
    windows = get_db()[RATE_LIMITS_COLLECTION]
    stale = {"expires_at": {"$lt": now}}
    if dry_run:
        report.rate_limit_windows = await windows.count_documents(stale)
    else:
        report.rate_limit_windows = (await windows.delete_many(stale)).deleted_count
    outbox = OutboxMessage.get_pymongo_collection()
    old_tokens = {"expires_at": {"$lt": now - OUTBOX_KEEP}}
    if dry_run:
        report.outbox_tokens = await outbox.count_documents(old_tokens)
    else:
        report.outbox_tokens = (await outbox.delete_many(old_tokens)).deleted_count
    return report

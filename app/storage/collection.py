"""Garbage collection of the blob store: blobs nothing references, chunks of uploads that never
finished, abandoned upload leases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from app.engine import retrying
from app.storage.blobs import (
    BlobInfo,
    blob_info,
    chunks_collection,
    drop_chunks,
    files_collection,
)
from app.storage.leases import LEASE_TIMEOUT, active_leases, remove_abandoned
from documents.base import utcnow


@dataclass
class CollectionReport:
    blobs_deleted: int = 0
    bytes_freed: int = 0
    orphan_chunk_files: int = 0
    abandoned_uploads: int = 0


async def collect_unreferenced(
    referenced: Callable[[ObjectId], Awaitable[set[str]]],
    *,
    grace: timedelta,
    lease_timeout: timedelta = LEASE_TIMEOUT,
    dry_run: bool = False,
    held: frozenset[ObjectId] | set[ObjectId] = frozenset(),
) -> CollectionReport:
    """Delete blobs that `referenced(owner)` does not name, that no live upload lease holds
    and that were not stored or reused within `grace`; and chunks whose file document never
    came, unless a live lease holds them (an upload in progress) or they are younger than
    `grace`.

    The order of the reads is what makes this safe while uploads run: (1) list what might go,
    (2) read the live leases, (3) read the references, (4) delete guarded by what (1) saw. An
    upload registers its lease before it writes and releases it after its reference is
    written, so whatever (1) saw of it is covered by (2) or, once released, by (3).

    The blobs of `held` owners (under a legal hold) are kept, referenced or not.
    """
    report = CollectionReport()
    now = utcnow()
    cutoff = now - grace
    candidates: dict[ObjectId, list[tuple[BlobInfo, object]]] = {}
    async for raw in files_collection().find({"metadata.last_referenced_at": {"$lt": cutoff}}):
        info = blob_info(raw)
        touches = (raw.get("metadata") or {}).get("touches")
        candidates.setdefault(info.owner_id, []).append((info, touches))
    chunk_file_ids = await chunks_collection().distinct("files_id")
    leased = await active_leases(now, lease_timeout)
    for owner_id, blobs in candidates.items():
        if owner_id in held:
            continue
        keep = await referenced(owner_id)
        for blob, touches in blobs:
            if blob.sha256 in keep or blob.file_id in leased.file_ids:
                continue
            if (owner_id, blob.sha256) in leased.blobs:
                continue
            if dry_run:
                deleted = True
            else:
                # Guarded by what the listing saw: a reuse since then bumped `touches`.
                result = await retrying(
                    files_collection().delete_one,
                    {"_id": blob.file_id, "metadata.touches": touches},
                )
                deleted = result.deleted_count == 1
                if deleted:
                    await drop_chunks(blob.file_id)
            if deleted:
                report.blobs_deleted += 1
                report.bytes_freed += blob.size
    # Chunks whose file document never got written: an upload cut off mid-way. Their ids were
    # read before the leases, and the file documents are read after them.
    known = {raw["_id"] async for raw in files_collection().find({}, {"_id": 1})}
    orphan_ids = [
        file_id
        for file_id in chunk_file_ids
        if file_id not in known
        and file_id not in leased.file_ids
        and isinstance(file_id, ObjectId)
        and file_id.generation_time < cutoff
    ]
    report.orphan_chunk_files = len(orphan_ids)
    if orphan_ids and not dry_run:
        await retrying(chunks_collection().delete_many, {"files_id": {"$in": orphan_ids}})
    report.abandoned_uploads = await remove_abandoned(now, lease_timeout, dry_run=dry_run)
    return report

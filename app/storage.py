"""The only module that touches GridFS: a content-addressed blob store per owner.

Blobs use the standard GridFS layout (`blobs.files`, `blobs.chunks`), so any GridFS tool reads
them; writes and reads are done here chunk batch by chunk batch to keep memory flat.

A blob is one GridFS file in the `blobs` bucket whose `metadata` holds `owner_id` and `sha256`,
with a unique index on that pair: the same bytes are stored once per owner, and of two concurrent
identical uploads the second one's insert of the file document fails and its chunks are removed.
Blobs are deleted by garbage collection (`collect_unreferenced`) once nothing references them.

Uploads are safe from garbage collection without trusting a clock: every write into the store
happens under an `UploadLease`, a row in `blobs.uploads` registered before the first chunk is
written and removed only after the caller has stored its reference to the blob. The sweep reads
the leases after it has listed what it might delete and before it decides, so it never takes an
upload's chunks for orphans, nor a new blob for unreferenced; a reuse of an existing blob bumps
its `touches` counter, and a blob is deleted only if that counter is what the sweep saw. The
grace period stays as a second line of defence. A lease not renewed for `LEASE_TIMEOUT` (its
process died) is abandoned, and the sweep removes it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import Binary, ObjectId
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from app.database import get_db
from app.engine import is_unique_violation
from app.errors import PayloadTooLarge, Unprocessable
from documents.base import utcnow
from documents.blob import CHUNKS, FILES, UPLOADS

CHUNK_SIZE = 255 * 1024
WRITE_BATCH_CHUNKS = 4  # about 1 MiB per insert
READ_BATCH_CHUNKS = 4
HEAD_BYTES = 512
LEASE_TIMEOUT = timedelta(minutes=15)
LEASE_RENEW_SECONDS = 60.0


@dataclass
class StoredBlob:
    sha256: str
    size: int
    head: bytes  # the first bytes, for content sniffing
    created: bool  # False when identical bytes were already stored


@dataclass
class BlobInfo:
    file_id: ObjectId
    owner_id: ObjectId
    sha256: str
    size: int
    uploaded_at: datetime


def _files() -> AsyncCollection:
    return get_db()[FILES]


def _chunks() -> AsyncCollection:
    return get_db()[CHUNKS]


def _uploads() -> AsyncCollection:
    return get_db()[UPLOADS]


@dataclass
class UploadLease:
    """The registration of writes into the store that are not referenced yet: the GridFS file
    ids whose chunks are being written and the sha256s about to be referenced. Written lazily
    (an upload that fails before storing anything costs nothing), renewed while work goes on."""

    owner_id: ObjectId
    id: ObjectId = field(default_factory=ObjectId)
    _written: bool = False
    _renewed: float = 0.0

    async def register(self, *, file_id: ObjectId | None = None, sha256: str | None = None) -> None:
        now = utcnow()
        if not self._written:
            await _uploads().insert_one(
                {
                    "_id": self.id,
                    "owner_id": self.owner_id,
                    "file_ids": [file_id] if file_id else [],
                    "sha256s": [sha256] if sha256 else [],
                    "started_at": now,
                    "renewed_at": now,
                }
            )
            self._written = True
        else:
            added = {
                name: value
                for name, value in (("file_ids", file_id), ("sha256s", sha256))
                if value is not None
            }
            update: dict = {"$set": {"renewed_at": now}}
            if added:
                update["$addToSet"] = added
            await _uploads().update_one({"_id": self.id}, update)
        self._renewed = time.monotonic()

    async def renew(self) -> None:
        """Keep a long upload's lease alive (one write a minute at most)."""
        if self._written and time.monotonic() - self._renewed > LEASE_RENEW_SECONDS:
            await self.register()

    async def release(self) -> None:
        if self._written:
            await _uploads().delete_one({"_id": self.id})
            self._written = False


@asynccontextmanager
async def upload_lease(owner_id: ObjectId) -> AsyncIterator[UploadLease]:
    """Hold a lease around storing blobs *and* writing the references to them."""
    lease = UploadLease(owner_id)
    try:
        yield lease
    finally:
        await lease.release()


async def put(
    owner_id: ObjectId,
    chunks: AsyncIterable[bytes],
    *,
    lease: UploadLease,
    max_bytes: int | None = None,
) -> StoredBlob:
    """Stream `chunks` into GridFS while hashing them. Nothing is kept when the stream fails,
    is empty or passes `max_bytes`; identical bytes already stored are reused. The blob stays
    registered in `lease` until the caller releases it, after writing its reference.

    Chunks are written in the GridFS layout directly, `WRITE_BATCH_CHUNKS` at a time: the
    driver's GridIn buffers up to 48 MiB before its first write, and memory must not grow with
    the file. Reads go through the driver's bucket.
    """
    file_id = ObjectId()
    registered = False
    hasher = hashlib.sha256()
    size = 0
    head = b""
    number = 0
    pending = bytearray()
    batch: list[dict] = []
    chunk_collection = _chunks()

    async def write(rows: list[dict]) -> None:
        nonlocal registered
        if not registered:  # before the first chunk: the sweep must know these are not orphans
            await lease.register(file_id=file_id)
            registered = True
        else:
            await lease.renew()
        await chunk_collection.insert_many(rows)

    async def flush(final: bool = False) -> None:
        nonlocal number, batch
        while len(pending) >= CHUNK_SIZE or (final and pending):
            batch.append(
                {"files_id": file_id, "n": number, "data": Binary(bytes(pending[:CHUNK_SIZE]))}
            )
            del pending[:CHUNK_SIZE]
            number += 1
            if len(batch) >= WRITE_BATCH_CHUNKS:
                await write(batch)
                batch = []
        if final and batch:
            await write(batch)
            batch = []

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise PayloadTooLarge(f"The file is larger than {max_bytes} bytes.")
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            hasher.update(chunk)
            pending.extend(chunk)
            await flush()
        if size == 0:
            raise Unprocessable("The file is empty.", field="body.file")
        sha256 = hasher.hexdigest()
        # Registered before the blob is reused or created: until the caller's reference is
        # written, the lease is what keeps the blob.
        await lease.register(sha256=sha256, file_id=None if registered else file_id)
        registered = True
        if await _reuse(owner_id, sha256):
            if number:
                await _drop_chunks(file_id)
            return StoredBlob(sha256, size, head, created=False)
        await flush(final=True)
        now = utcnow()
        try:
            await _files().insert_one(
                {
                    "_id": file_id,
                    "length": size,
                    "chunkSize": CHUNK_SIZE,
                    "uploadDate": now,
                    "filename": sha256,
                    "metadata": {
                        "owner_id": owner_id,
                        "sha256": sha256,
                        "last_referenced_at": now,
                        "touches": 0,
                    },
                }
            )
        except OperationFailure as exc:
            if not is_unique_violation(exc):
                raise
            # A concurrent upload of the same bytes won; keep its blob, drop our chunks.
            await _drop_chunks(file_id)
            await _reuse(owner_id, sha256)
            return StoredBlob(sha256, size, head, created=False)
        return StoredBlob(sha256, size, head, created=True)
    except BaseException:
        await _drop_chunks(file_id)
        raise


async def _drop_chunks(file_id: ObjectId) -> None:
    await _chunks().delete_many({"files_id": file_id})


async def put_bytes(owner_id: ObjectId, data: bytes, *, lease: UploadLease) -> StoredBlob:
    async def one_chunk() -> AsyncIterator[bytes]:
        yield data

    return await put(owner_id, one_chunk(), lease=lease)


async def _reuse(owner_id: ObjectId, sha256: str) -> bool:
    """Mark an existing blob as just referenced: its `touches` change, so a sweep that listed it
    before does not delete it, and the grace period starts again. False when there is none."""
    result = await _files().update_one(
        {"metadata.owner_id": owner_id, "metadata.sha256": sha256},
        {"$set": {"metadata.last_referenced_at": utcnow()}, "$inc": {"metadata.touches": 1}},
    )
    return result.matched_count == 1


async def touch(owner_id: ObjectId, sha256: str) -> bool:
    """Record that a new reference to an existing blob is about to be written: garbage
    collection's grace period then covers the moment until that reference is stored."""
    return await _reuse(owner_id, sha256)


async def exists(owner_id: ObjectId, sha256: str) -> bool:
    found = await _files().find_one(
        {"metadata.owner_id": owner_id, "metadata.sha256": sha256}, {"_id": 1}
    )
    return found is not None


async def open_blob(
    owner_id: ObjectId, sha256: str, start: int = 0, end: int | None = None
) -> AsyncIterator[bytes]:
    """Yield bytes `start`..`end` (inclusive) of a blob, one GridFS chunk at a time.

    One cursor over just the chunks the range needs, fetched `READ_BATCH_CHUNKS` at a time,
    so memory stays flat whatever the file's size.
    """
    raw = await _files().find_one({"metadata.owner_id": owner_id, "metadata.sha256": sha256})
    if raw is None:
        raise NoFile(f"no blob {sha256}")
    length = raw["length"]
    chunk_size = raw["chunkSize"]
    stop = length if end is None else min(end + 1, length)
    if start >= stop:
        return
    first_n = start // chunk_size
    last_n = (stop - 1) // chunk_size
    cursor = (
        _chunks()
        .find({"files_id": raw["_id"], "n": {"$gte": first_n, "$lte": last_n}})
        .sort("n", ASCENDING)
        .batch_size(READ_BATCH_CHUNKS)
    )
    expected = first_n
    async for chunk in cursor:
        if chunk["n"] != expected:
            raise CorruptGridFile(f"blob {sha256}: chunk {expected} is missing")
        offset = chunk["n"] * chunk_size
        data = bytes(chunk["data"])
        yield data[max(0, start - offset) : stop - offset]
        expected += 1
    if expected != last_n + 1:
        raise CorruptGridFile(f"blob {sha256}: chunk {expected} is missing")


async def read_all(owner_id: ObjectId, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in open_blob(owner_id, sha256)])


async def owner_blobs(owner_id: ObjectId) -> list[BlobInfo]:
    cursor = _files().find({"metadata.owner_id": owner_id}).sort("_id", ASCENDING)
    return [_info(raw) async for raw in cursor]


async def all_blobs() -> list[BlobInfo]:
    return [_info(raw) async for raw in _files().find({}).sort("_id", ASCENDING)]


def _info(raw: dict) -> BlobInfo:
    meta = raw.get("metadata") or {}
    return BlobInfo(
        file_id=raw["_id"],
        owner_id=meta.get("owner_id"),
        sha256=meta.get("sha256", ""),
        size=raw.get("length", 0),
        uploaded_at=raw.get("uploadDate"),
    )


async def delete_file(file_id: ObjectId) -> None:
    """The file document first (the blob stops existing), then its chunks; a crash in between
    leaves orphan chunks, which `collect_unreferenced` removes."""
    await _files().delete_one({"_id": file_id})
    await _drop_chunks(file_id)


async def delete_owner_blobs(owner_id: ObjectId) -> int:
    blobs = await owner_blobs(owner_id)
    for blob in blobs:
        await delete_file(blob.file_id)
    return len(blobs)


async def blob_stats(owner_id: ObjectId | None = None) -> tuple[int, int, int]:
    """(files, bytes, chunks) in the bucket, for one owner or for everyone."""
    query = {"metadata.owner_id": owner_id} if owner_id else {}
    files = 0
    total = 0
    ids = []
    async for raw in _files().find(query, {"length": 1}):
        files += 1
        total += raw.get("length", 0)
        ids.append(raw["_id"])
    chunk_query = {"files_id": {"$in": ids}} if owner_id else {}
    chunks = await _chunks().count_documents(chunk_query)
    return files, total, chunks


@dataclass
class CollectionReport:
    blobs_deleted: int = 0
    bytes_freed: int = 0
    orphan_chunk_files: int = 0
    abandoned_uploads: int = 0


@dataclass
class _Leased:
    file_ids: set[ObjectId]
    blobs: set[tuple[ObjectId, str]]


async def _active_leases(now: datetime, lease_timeout: timedelta) -> _Leased:
    leased = _Leased(set(), set())
    async for raw in _uploads().find({"renewed_at": {"$gte": now - lease_timeout}}):
        leased.file_ids.update(raw.get("file_ids") or [])
        leased.blobs.update((raw["owner_id"], sha) for sha in raw.get("sha256s") or [])
    return leased


async def collect_unreferenced(
    referenced: Callable[[ObjectId], Awaitable[set[str]]],
    *,
    grace: timedelta,
    lease_timeout: timedelta = LEASE_TIMEOUT,
    dry_run: bool = False,
) -> CollectionReport:
    """Delete blobs that `referenced(owner)` does not name, that no live upload lease holds
    and that were not stored or reused within `grace`; and chunks whose file document never
    came, unless a live lease holds them (an upload in progress) or they are younger than
    `grace`.

    The order of the reads is what makes this safe while uploads run: (1) list what might go,
    (2) read the live leases, (3) read the references, (4) delete guarded by what (1) saw. An
    upload registers its lease before it writes and releases it after its reference is
    written, so whatever (1) saw of it is covered by (2) or, once released, by (3).
    """
    report = CollectionReport()
    now = utcnow()
    cutoff = now - grace
    candidates: dict[ObjectId, list[tuple[BlobInfo, object]]] = {}
    async for raw in _files().find({"metadata.last_referenced_at": {"$lt": cutoff}}):
        info = _info(raw)
        touches = (raw.get("metadata") or {}).get("touches")
        candidates.setdefault(info.owner_id, []).append((info, touches))
    chunk_file_ids = await _chunks().distinct("files_id")
    leased = await _active_leases(now, lease_timeout)
    for owner_id, blobs in candidates.items():
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
                result = await _files().delete_one(
                    {"_id": blob.file_id, "metadata.touches": touches}
                )
                deleted = result.deleted_count == 1
                if deleted:
                    await _drop_chunks(blob.file_id)
            if deleted:
                report.blobs_deleted += 1
                report.bytes_freed += blob.size
    # Chunks whose file document never got written: an upload cut off mid-way. Their ids were
    # read before the leases, and the file documents are read after them.
    known = {raw["_id"] async for raw in _files().find({}, {"_id": 1})}
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
        await _chunks().delete_many({"files_id": {"$in": orphan_ids}})
    abandoned = {"renewed_at": {"$lt": now - lease_timeout}}
    if dry_run:
        report.abandoned_uploads = await _uploads().count_documents(abandoned)
    else:
        report.abandoned_uploads = (await _uploads().delete_many(abandoned)).deleted_count
    return report

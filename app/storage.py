"""The only module that touches GridFS: a content-addressed blob store per owner.

Blobs use the standard GridFS layout (`blobs.files`, `blobs.chunks`), so any GridFS tool reads
them; writes and reads are done here chunk batch by chunk batch to keep memory flat.

A blob is one GridFS file in the `blobs` bucket whose `metadata` holds `owner_id` and `sha256`,
with a unique index on that pair: the same bytes are stored once per owner, and of two concurrent
identical uploads the second one's insert of the file document fails and its chunks are removed.
Blobs are deleted by garbage collection (`collect_unreferenced`) once nothing references them.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import Binary, ObjectId
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from app.database import get_db
from app.errors import PayloadTooLarge, Unprocessable
from documents.base import utcnow

BUCKET = "blobs"
CHUNK_SIZE = 255 * 1024
WRITE_BATCH_CHUNKS = 4  # about 1 MiB per insert
READ_BATCH_CHUNKS = 4
HEAD_BYTES = 512


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


def _files():
    return get_db()[f"{BUCKET}.files"]


def _chunks():
    return get_db()[f"{BUCKET}.chunks"]


INDEXES = {
    f"{BUCKET}.files": [
        IndexModel(
            [("metadata.owner_id", ASCENDING), ("metadata.sha256", ASCENDING)],
            unique=True,
            name="owner_sha256_unique",
        ),
        IndexModel(
            [("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"
        ),
    ],
    f"{BUCKET}.chunks": [
        IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1")
    ],
}


async def put(
    owner_id: ObjectId, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
) -> StoredBlob:
    """Stream `chunks` into GridFS while hashing them. Nothing is kept when the stream fails,
    is empty or passes `max_bytes`; identical bytes already stored are reused.

    Chunks are written in the GridFS layout directly, `WRITE_BATCH_CHUNKS` at a time: the
    driver's GridIn buffers up to 48 MiB before its first write, and memory must not grow with
    the file. Reads go through the driver's bucket.
    """
    file_id = ObjectId()
    hasher = hashlib.sha256()
    size = 0
    head = b""
    number = 0
    pending = bytearray()
    batch: list[dict] = []
    chunk_collection = _chunks()

    async def flush(final: bool = False) -> None:
        nonlocal number, batch
        while len(pending) >= CHUNK_SIZE or (final and pending):
            batch.append(
                {"files_id": file_id, "n": number, "data": Binary(bytes(pending[:CHUNK_SIZE]))}
            )
            del pending[:CHUNK_SIZE]
            number += 1
            if len(batch) >= WRITE_BATCH_CHUNKS:
                await chunk_collection.insert_many(batch)
                batch = []
        if final and batch:
            await chunk_collection.insert_many(batch)
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
        if await _reuse(owner_id, sha256):
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
                    "metadata": {"owner_id": owner_id, "sha256": sha256, "last_referenced_at": now},
                }
            )
        except DuplicateKeyError:
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


async def put_bytes(owner_id: ObjectId, data: bytes) -> StoredBlob:
    async def one_chunk() -> AsyncIterator[bytes]:
        yield data

    return await put(owner_id, one_chunk())


async def _reuse(owner_id: ObjectId, sha256: str) -> bool:
    """Mark an existing blob as just referenced (so collection's grace period protects it
    until the caller has recorded its reference); False when there is none."""
    result = await _files().update_one(
        {"metadata.owner_id": owner_id, "metadata.sha256": sha256},
        {"$set": {"metadata.last_referenced_at": utcnow()}},
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


async def collect_unreferenced(
    referenced: Callable[[ObjectId], Awaitable[set[str]]],
    *,
    grace: timedelta,
    dry_run: bool = False,
) -> CollectionReport:
    """Delete blobs that `referenced(owner)` does not name and that were not stored or reused
    within `grace`, and chunks left by uploads that never finished (older than `grace`)."""
    report = CollectionReport()
    cutoff = utcnow() - grace
    candidates: dict[ObjectId, list[BlobInfo]] = {}
    async for raw in _files().find({"metadata.last_referenced_at": {"$lt": cutoff}}):
        info = _info(raw)
        candidates.setdefault(info.owner_id, []).append(info)
    for owner_id, blobs in candidates.items():
        keep = await referenced(owner_id)
        for blob in blobs:
            if blob.sha256 in keep:
                continue
            report.blobs_deleted += 1
            report.bytes_freed += blob.size
            if not dry_run:
                await delete_file(blob.file_id)
    # Chunks whose file document never got written: an upload cut off mid-way.
    known = {raw["_id"] async for raw in _files().find({}, {"_id": 1})}
    orphan_ids = [
        file_id
        for file_id in await _chunks().distinct("files_id")
        if file_id not in known
        and isinstance(file_id, ObjectId)
        and file_id.generation_time < cutoff
    ]
    report.orphan_chunk_files = len(orphan_ids)
    if orphan_ids and not dry_run:
        await _chunks().delete_many({"files_id": {"$in": orphan_ids}})
    return report

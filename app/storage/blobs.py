"""Blobs: streamed, hashed writes into GridFS chunk batch by chunk batch, ranged reads, and
deletion. One blob per (owner, sha256), settled by a unique index.

Raw driver: GridFS is collections of chunks and file documents that no document model
describes; chunks are written in batches so memory stays flat.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from bson import Binary, ObjectId
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from app.auth.scoping import blob_filter, owner_id_of
from app.database import get_db
from app.engine import insert_row_unless_exists, insert_rows_unless_exist, retrying
from app.errors import PayloadTooLarge, Unprocessable
from app.storage.leases import UploadLease
from app.storage.quota import StorageHold, count_again
from documents.base import utcnow
from documents.blob import CHUNKS, FILES
from documents.user import User

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


def files_collection() -> AsyncCollection:
    return get_db()[FILES]


def chunks_collection() -> AsyncCollection:
    return get_db()[CHUNKS]


async def put(
    owner: User | ObjectId,
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
    owner_id = owner_id_of(owner)
    file_id = ObjectId()
    hold = await StorageHold.start(owner)
    registered = False
    stored = False
    hasher = hashlib.sha256()
    size = 0
    head = b""
    number = 0
    pending = bytearray()
    batch: list[dict] = []
    chunk_collection = chunks_collection()

    async def write(rows: list[dict], *, whole: bool = False) -> None:
        nonlocal registered
        # 403 before the bytes land.
        await hold.take(sum(len(row["data"]) for row in rows), whole=whole)
        if not registered:  # before the first chunk: the sweep must know these are not orphans
            await lease.register(file_id=file_id)
            registered = True
        else:
            await lease.renew()
        # Refused rows can only be this upload's own (its file id): an earlier attempt's.
        await insert_rows_unless_exist(chunk_collection, rows)

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
            # Nothing written before this batch: it is the whole blob.
            await write(batch, whole=batch[0]["n"] == 0)
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
                await drop_chunks(file_id)
            await hold.give_back()
            return StoredBlob(sha256, size, head, created=False)
        await flush(final=True)
        now = utcnow()
        created = await insert_row_unless_exists(
            files_collection(),
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
                    "counted": True,
                },
            },
        )
        if not created:
            # A concurrent upload of the same bytes won; keep its blob, drop our chunks.
            await drop_chunks(file_id)
            await _reuse(owner_id, sha256)
            await hold.give_back()
            return StoredBlob(sha256, size, head, created=False)
        stored = True  # the chunks are the blob's now: never dropped below
        await hold.stored(size)
        return StoredBlob(sha256, size, head, created=True)
    except BaseException:
        if not stored:
            await drop_chunks(file_id)
        await hold.give_back()
        raise


async def drop_chunks(file_id: ObjectId) -> None:
    await retrying(chunks_collection().delete_many, {"files_id": file_id})


async def put_bytes(owner: User | ObjectId, data: bytes, *, lease: UploadLease) -> StoredBlob:
    async def one_chunk() -> AsyncIterator[bytes]:
        yield data

    return await put(owner, one_chunk(), lease=lease)


async def _reuse(owner_id: ObjectId, sha256: str) -> bool:
    """Mark an existing blob as just referenced: its `touches` change, so a sweep that listed it
    before does not delete it, and the grace period starts again. False when there is none."""
    result = await retrying(
        files_collection().update_one,
        blob_filter(owner_id, {"metadata.sha256": sha256}),
        {"$set": {"metadata.last_referenced_at": utcnow()}, "$inc": {"metadata.touches": 1}},
    )
    if result.matched_count != 1:
        return False
    await count_again(owner_id, sha256)
    return True


async def touch(owner_id: ObjectId, sha256: str) -> bool:
    """Record that a new reference to an existing blob is about to be written: garbage
    collection's grace period then covers the moment until that reference is stored."""
    return await _reuse(owner_id, sha256)


async def exists(owner_id: ObjectId, sha256: str) -> bool:
    found = await files_collection().find_one(
        blob_filter(owner_id, {"metadata.sha256": sha256}), {"_id": 1}
    )
    return found is not None


async def open_blob(
    owner_id: ObjectId, sha256: str, start: int = 0, end: int | None = None
) -> AsyncIterator[bytes]:
    """Yield bytes `start`..`end` (inclusive) of a blob, one GridFS chunk at a time.

    One cursor over just the chunks the range needs, fetched `READ_BATCH_CHUNKS` at a time,
    so memory stays flat whatever the file's size.
    """
    raw = await files_collection().find_one(blob_filter(owner_id, {"metadata.sha256": sha256}))
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
        chunks_collection()
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
    cursor = files_collection().find(blob_filter(owner_id)).sort("_id", ASCENDING)
    return [blob_info(raw) async for raw in cursor]


async def all_blobs() -> list[BlobInfo]:
    return [blob_info(raw) async for raw in files_collection().find({}).sort("_id", ASCENDING)]


def blob_info(raw: dict) -> BlobInfo:
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
    await retrying(files_collection().delete_one, {"_id": file_id})
    await drop_chunks(file_id)


async def delete_owner_blobs(owner_id: ObjectId) -> int:
    blobs = await owner_blobs(owner_id)
    for blob in blobs:
        await delete_file(blob.file_id)
    return len(blobs)


async def blob_stats(owner_id: ObjectId | None = None) -> tuple[int, int, int]:
    """(files, bytes, chunks) in the bucket, for one owner or for everyone."""
    query = blob_filter(owner_id) if owner_id else {}
    files = 0
    total = 0
    ids = []
    async for raw in files_collection().find(query, {"length": 1}):
        files += 1
        total += raw.get("length", 0)
        ids.append(raw["_id"])
    chunk_query = {"files_id": {"$in": ids}} if owner_id else {}
    chunks = await chunks_collection().count_documents(chunk_query)
    return files, total, chunks

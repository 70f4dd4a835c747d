"""The only code that touches GridFS (this package): a content-addressed blob store per owner.

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

from app.storage.blobs import (
    CHUNK_SIZE,
    HEAD_BYTES,
    READ_BATCH_CHUNKS,
    WRITE_BATCH_CHUNKS,
    BlobInfo,
    StoredBlob,
    all_blobs,
    blob_stats,
    delete_file,
    delete_owner_blobs,
    exists,
    open_blob,
    owner_blobs,
    put,
    put_bytes,
    read_all,
    touch,
)
from app.storage.collection import CollectionReport, collect_unreferenced
from app.storage.leases import LEASE_TIMEOUT, UploadLease
from app.storage.quota import referenced_shas, uncount_for, uncount_unreferenced, upload_lease

__all__ = [
    "CHUNK_SIZE",
    "HEAD_BYTES",
    "LEASE_TIMEOUT",
    "READ_BATCH_CHUNKS",
    "WRITE_BATCH_CHUNKS",
    "BlobInfo",
    "CollectionReport",
    "StoredBlob",
    "UploadLease",
    "all_blobs",
    "blob_stats",
    "collect_unreferenced",
    "delete_file",
    "delete_owner_blobs",
    "exists",
    "open_blob",
    "owner_blobs",
    "put",
    "put_bytes",
    "read_all",
    "referenced_shas",
    "touch",
    "uncount_for",
    "uncount_unreferenced",
    "upload_lease",
]

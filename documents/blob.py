"""The blob store's layout: a GridFS bucket per the GridFS spec, plus its upload leases.

Declared here as data (names and indexes) so the database module can create the indexes
without importing the storage code that uses them (`app/storage.py`, the only GridFS code).
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel

BUCKET = "blobs"
FILES = f"{BUCKET}.files"
CHUNKS = f"{BUCKET}.chunks"
UPLOADS = f"{BUCKET}.uploads"  # leases of uploads in progress

BLOB_INDEXES: dict[str, list[IndexModel]] = {
    FILES: [
        IndexModel(
            [("metadata.owner_id", ASCENDING), ("metadata.sha256", ASCENDING)],
            unique=True,
            name="owner_sha256_unique",
        ),
        # The driver's default names, so its own index check and ours never ask MongoDB for
        # the same key under two names.
        IndexModel(
            [("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"
        ),
    ],
    CHUNKS: [
        IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1")
    ],
    UPLOADS: [IndexModel([("renewed_at", ASCENDING)], name="renewed_at")],
}

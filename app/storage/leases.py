"""Upload leases: the registration of writes into the blob store that are not referenced yet.

An upload registers its lease before it writes its first chunk and releases it after the
caller's reference to the blob is written; the sweep (`collection.py`) honours live leases, so
no clock stands between an upload in progress and garbage collection. A lease not renewed for
`LEASE_TIMEOUT` belongs to a process that died, and the sweep removes it.

Raw driver: the leases are a collection beside the GridFS bucket, read and swept in bulk by
the garbage collector across owners.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from app.auth.scoping import lease_filter
from app.database import get_db
from app.engine import retrying
from documents.base import utcnow
from documents.blob import UPLOADS

LEASE_TIMEOUT = timedelta(minutes=15)
LEASE_RENEW_SECONDS = 60.0


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
            await retrying(
                _uploads().insert_one,
                {
                    "_id": self.id,
                    "owner_id": self.owner_id,
                    "file_ids": [file_id] if file_id else [],
                    "sha256s": [sha256] if sha256 else [],
                    "started_at": now,
                    "renewed_at": now,
                },
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
            await retrying(_uploads().update_one, {"_id": self.id}, update)
        self._renewed = time.monotonic()

    async def renew(self) -> None:
        """Keep a long upload's lease alive (one write a minute at most)."""
        if self._written and time.monotonic() - self._renewed > LEASE_RENEW_SECONDS:
            await self.register()

    async def release(self) -> None:
        if self._written:
            await retrying(_uploads().delete_one, {"_id": self.id})
            self._written = False


@dataclass
class Leased:
    """What the live leases hold: chunk file ids being written, (owner, sha256) about to be
    referenced."""

    file_ids: set[ObjectId]
    blobs: set[tuple[ObjectId, str]]


async def leased_shas(owner_id: ObjectId, now: datetime) -> set[str]:
    """The sha256s the owner's live leases are about to reference."""
    live = lease_filter(owner_id, {"renewed_at": {"$gte": now - LEASE_TIMEOUT}})
    return {sha async for raw in _uploads().find(live) for sha in raw.get("sha256s") or []}


async def active_leases(now: datetime, lease_timeout: timedelta) -> Leased:
    leased = Leased(set(), set())
    async for raw in _uploads().find({"renewed_at": {"$gte": now - lease_timeout}}):
        leased.file_ids.update(raw.get("file_ids") or [])
        leased.blobs.update((raw["owner_id"], sha) for sha in raw.get("sha256s") or [])
    return leased


async def remove_abandoned(now: datetime, lease_timeout: timedelta, *, dry_run: bool) -> int:
    abandoned = {"renewed_at": {"$lt": now - lease_timeout}}
    if dry_run:
        return await _uploads().count_documents(abandoned)
    return (await retrying(_uploads().delete_many, abandoned)).deleted_count

"""A small migration runner without transactions, so the same code runs on every engine.

State per migration in `migrations`: `applying` while its forward step runs, `applied` after,
`reverting` while its backward step runs (the record is removed after). A run that dies part-way
leaves `applying`/`reverting`, and the next run repeats that (idempotent) step. A lock document
with a lease keeps two runners from working at once.

Raw driver: a migration works on the stored shape of the data, which is exactly what the
document models of this release may not describe yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.engine import insert_row_unless_exists
from app.migrations.steps import MIGRATIONS, Migration
from documents.base import utcnow

COLLECTION = "migrations"
LOCK_ID = "__lock__"
LEASE = timedelta(minutes=10)


class MigrationLocked(RuntimeError):
    pass


@dataclass
class MigrationState:
    id: str
    description: str
    state: str  # pending, applying, applied, reverting
    applied_at: Any = None


async def _lock(db: AsyncDatabase) -> None:
    now = utcnow()
    collection = db[COLLECTION]
    await collection.delete_one({"_id": LOCK_ID, "expires_at": {"$lt": now}})
    lock = {"_id": LOCK_ID, "expires_at": now + LEASE}
    if not await insert_row_unless_exists(collection, lock):
        raise MigrationLocked("another migration run holds the lock")


async def _unlock(db: AsyncDatabase) -> None:
    await db[COLLECTION].delete_one({"_id": LOCK_ID})


async def status(db: AsyncDatabase) -> list[MigrationState]:
    records = {raw["_id"]: raw async for raw in db[COLLECTION].find({"_id": {"$ne": LOCK_ID}})}
    return [
        MigrationState(
            m.id,
            m.description,
            records.get(m.id, {}).get("state", "pending"),
            records.get(m.id, {}).get("applied_at"),
        )
        for m in MIGRATIONS
    ]


async def migrate_up(db: AsyncDatabase, migrations: list[Migration] = MIGRATIONS) -> list[str]:
    """Apply every migration that is not applied, in order; returns the ids applied."""
    await _lock(db)
    try:
        done = {raw["_id"] async for raw in db[COLLECTION].find({"state": "applied"}, {"_id": 1})}
        applied = []
        for migration in migrations:
            if migration.id in done:
                continue
            await db[COLLECTION].update_one(
                {"_id": migration.id},
                {"$set": {"state": "applying", "description": migration.description}},
                upsert=True,
            )
            await migration.up(db)
            await db[COLLECTION].update_one(
                {"_id": migration.id}, {"$set": {"state": "applied", "applied_at": utcnow()}}
            )
            applied.append(migration.id)
        return applied
    finally:
        await _unlock(db)


async def migrate_down(
    db: AsyncDatabase, count: int, migrations: list[Migration] = MIGRATIONS
) -> list[str]:
    """Roll back the last `count` applied migrations, newest first; returns the ids reverted."""
    await _lock(db)
    try:
        records = {
            raw["_id"]: raw["state"] async for raw in db[COLLECTION].find({"_id": {"$ne": LOCK_ID}})
        }
        candidates = [
            m
            for m in reversed(migrations)
            if records.get(m.id) in ("applied", "applying", "reverting")
        ]
        reverted = []
        for migration in candidates[:count]:
            await db[COLLECTION].update_one({"_id": migration.id}, {"$set": {"state": "reverting"}})
            await migration.down(db)
            await db[COLLECTION].delete_one({"_id": migration.id})
            reverted.append(migration.id)
        return reverted
    finally:
        await _unlock(db)

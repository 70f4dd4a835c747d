"""The migrations, oldest first. Each has an id, a forward and a backward step; both steps are
idempotent, so re-running one that was interrupted completes it.

Raw driver, for the reason `runner.py` gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from app.database import declared_indexes, ensure_indexes
from app.usage.rebuild import rebuild_rollups
from documents.usage import UsageBatch, UsageRollup

Step = Callable[[AsyncDatabase], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    up: Step
    down: Step


async def create_indexes(db: AsyncDatabase) -> None:
    await ensure_indexes(db)


async def drop_indexes(db: AsyncDatabase) -> None:
    for collection, indexes in declared_indexes().items():
        for index in indexes:
            try:
                await db[collection].drop_index(index.document["name"])
            except OperationFailure:
                pass  # already gone


async def backfill_usage_errors(db: AsyncDatabase) -> None:
    """`errors` (1 for a failed call) is what analytics sums; events written before it existed
    get it from their status."""
    events = db["usage_events"]
    await events.update_many(
        {"errors": {"$exists": False}, "status": "error"}, {"$set": {"errors": 1}}
    )
    await events.update_many({"errors": {"$exists": False}}, {"$set": {"errors": 0}})


async def remove_usage_errors(db: AsyncDatabase) -> None:
    await db["usage_events"].update_many({"errors": {"$exists": True}}, {"$unset": {"errors": ""}})


async def build_usage_rollups(db: AsyncDatabase) -> None:
    """Usage reports read rollups: compute them for the events recorded before they existed."""
    await rebuild_rollups(db)


async def drop_usage_rollups(db: AsyncDatabase) -> None:
    await db[UsageRollup.Settings.name].drop()
    await db[UsageBatch.Settings.name].drop()


MIGRATIONS: list[Migration] = [
    Migration("0001_indexes", "create every index the code declares", create_indexes, drop_indexes),
    Migration(
        "0002_usage_errors",
        "back-fill usage_events.errors from status",
        backfill_usage_errors,
        remove_usage_errors,
    ),
    Migration(
        "0003_usage_rollups",
        "compute usage_rollups from the usage events recorded before them",
        build_usage_rollups,
        drop_usage_rollups,
    ),
]

"""The migrations, oldest first. Each has an id, a forward and a backward step; both steps are
idempotent, so re-running one that was interrupted completes it.

Raw driver, for the reason `runner.py` gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from app.budgets.check import check_quotas
from app.database import declared_indexes, ensure_indexes, get_db
from app.engine import drop_index_if_exists
from app.usage.rebuild import rebuild_rollups
from documents.budget import Reservation, SpendBudget, StorageUse
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
            await drop_index_if_exists(db[collection], index.document["name"])


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


async def count_quotas(db: AsyncDatabase) -> None:
    """Spend budgets and storage use for the data recorded before limits existed: every counter
    set to its exact value by `genstore quota check --fix`, through the app's documents (bound
    to this database by the command that runs the migration)."""
    if db.name != get_db().name:
        raise RuntimeError("0004 runs through the app's documents: migrate the app's database")
    await check_quotas(fix=True)


async def drop_quota_counters(db: AsyncDatabase) -> None:
    for name in (SpendBudget.Settings.name, Reservation.Settings.name, StorageUse.Settings.name):
        await db[name].drop()
    await db["blobs.files"].update_many({}, {"$unset": {"metadata.counted": ""}})


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
    Migration(
        "0004_quota_counters",
        "spend budgets and storage use computed from the ledger and the blob references",
        count_quotas,
        drop_quota_counters,
    ),
]

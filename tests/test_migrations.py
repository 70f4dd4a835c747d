"""Migrations: recorded, ordered, idempotent, reversible; run through the CLI."""

from __future__ import annotations

import uuid

from bson import ObjectId
from pymongo import AsyncMongoClient

from app.migrations import runner
from app.migrations.steps import MIGRATIONS, Migration
from app.settings import Settings
from tests.test_cli import run_cli


async def fresh_database(settings: Settings):
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    return client, client[f"mig_{uuid.uuid4().hex[:10]}"]


async def test_cli_applies_lists_and_rolls_back(settings: Settings) -> None:
    client, db = await fresh_database(settings)
    try:
        target = settings.model_copy(update={"mongodb_db": db.name})
        owner = ObjectId()
        events = db["usage_events"]
        await events.insert_many(
            [
                {"owner_id": owner, "request_id": "a", "status": "error", "day": "2026-01-01"},
                {"owner_id": owner, "request_id": "b", "status": "ok", "day": "2026-01-01"},
            ]
        )
        first = await run_cli(target, "migrate")
        assert first.returncode == 0, first.stderr
        assert "0001_indexes" in first.stderr and "0002_usage_errors" in first.stderr
        assert {e["request_id"]: e["errors"] async for e in events.find()} == {"a": 1, "b": 0}
        names = {index["name"] async for index in await events.list_indexes()}
        assert "owner_request_unique" in names
        assert "0003_usage_rollups" in first.stderr and "0004_quota_counters" in first.stderr
        day = await db["usage_rollups"].find_one({"_id": f"{owner}:2026-01-01"})
        assert (day["total"]["calls"], day["total"]["errors"]) == (2, 1)
        again = await run_cli(target, "migrate")
        assert "up to date" in again.stderr
        listed = await run_cli(target, "migrate", "--list")
        assert listed.stdout.count("applied") >= 2
        back = await run_cli(target, "migrate", "--down", "3")
        assert "0002_usage_errors" in back.stderr and "0003_usage_rollups" in back.stderr
        assert "0004_quota_counters" in back.stderr
        assert await db["usage_rollups"].count_documents({}) == 0
        assert [e async for e in events.find({"errors": {"$exists": True}})] == []
        assert (await db["migrations"].find_one({"_id": "0002_usage_errors"})) is None
        forward = await run_cli(target, "migrate")
        assert "0002_usage_errors" in forward.stderr and "0001" not in forward.stderr
        assert "0003_usage_rollups" in forward.stderr and "0004_quota_counters" in forward.stderr
        assert {e["request_id"]: e["errors"] async for e in events.find()} == {"a": 1, "b": 0}
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_a_run_that_died_midway_completes_and_never_applies_twice(settings: Settings) -> None:
    client, db = await fresh_database(settings)
    calls: list[str] = []

    async def counting_up(database) -> None:
        calls.append("up")
        await database["things"].update_one({"_id": 1}, {"$inc": {"n": 1}}, upsert=True)

    async def dying_up(database) -> None:
        calls.append("dying")
        raise RuntimeError("process killed")

    async def noop(database) -> None:
        return None

    try:
        steps = [
            Migration("a", "counts", counting_up, noop),
            Migration("b", "dies", dying_up, noop),
        ]
        try:
            await runner.migrate_up(db, steps)
        except RuntimeError:
            pass
        states = {s["_id"]: s["state"] async for s in db["migrations"].find()}
        assert states == {"a": "applied", "b": "applying"}
        assert await db["migrations"].find_one({"_id": runner.LOCK_ID}) is None
        fixed = [steps[0], Migration("b", "fixed", noop, noop)]
        assert await runner.migrate_up(db, fixed) == ["b"]
        assert await runner.migrate_up(db, fixed) == []
        assert (await db["things"].find_one({"_id": 1}))["n"] == 1  # "a" ran once
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_a_second_runner_is_refused_while_one_holds_the_lock(settings: Settings) -> None:
    client, db = await fresh_database(settings)
    try:
        await db["migrations"].insert_one(
            {"_id": runner.LOCK_ID, "expires_at": runner.utcnow() + runner.LEASE}
        )
        try:
            await runner.migrate_up(db, MIGRATIONS)
            raise AssertionError("expected the lock to refuse")
        except runner.MigrationLocked:
            pass
    finally:
        await client.drop_database(db.name)
        await client.close()

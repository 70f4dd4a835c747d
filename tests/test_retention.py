"""Retention policies: administrators set maximum ages per kind, users may only be stricter; a
preview counts exactly what applying then moves to the trash; pinned items stay; a changed policy
applies to data already stored; two runs at once, or a run killed part-way and run again, move
each item once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bson import ObjectId

from app.database import get_db
from app.settings import Settings
from tests.factories import TestUser, register_user
from tests.racing import needs_isolation
from tests.test_cli import run_cli

API = "/api/v1"
OLD = datetime.now(UTC) - timedelta(days=10)


@pytest.fixture(autouse=True)
async def no_policy_after(client: httpx.AsyncClient, admin: TestUser) -> AsyncIterator[None]:
    """The policy is one document for the whole database: later tests start without it."""
    yield
    await client.put(f"{API}/admin/retention", json={}, headers=admin.headers)


async def seed(client: httpx.AsyncClient, user: TestUser, *, age: datetime = OLD) -> dict:
    """Two conversations, a project and a story, all last active at `age`."""
    ids = {"conversations": [], "projects": [], "stories": []}
    for title in ("a", "b"):
        made = await client.post(
            f"{API}/conversations", json={"title": title}, headers=user.headers
        )
        ids["conversations"].append(made.json()["id"])
    project = await client.post(f"{API}/projects", json={"name": "p"}, headers=user.headers)
    ids["projects"].append(project.json()["id"])
    story = await client.post(
        f"{API}/stories", json={"title": "s", "text": {"en": "t"}}, headers=user.headers
    )
    ids["stories"].append(story.json()["id"])
    db, owner = get_db(), ObjectId(user.id)
    for collection in ("conversations", "projects", "stories"):
        await db[collection].update_many(
            {"owner_id": owner}, {"$set": {"updated_at": age, "activity_at": age}}
        )
    return ids


async def trashed_ids(client: httpx.AsyncClient, user: TestUser) -> set[str]:
    page = await client.get(f"{API}/trash", params={"limit": 100}, headers=user.headers)
    return {item["id"] for item in page.json()["items"]}


async def test_policies_are_set_by_administrators_and_users_only_stricter(
    client: httpx.AsyncClient, admin: TestUser, alice: TestUser
) -> None:
    assert (await client.get(f"{API}/admin/retention")).status_code == 401
    denied = await client.put(
        f"{API}/admin/retention", json={"conversations_days": 1}, headers=alice.headers
    )
    assert denied.status_code == 403
    for bad in ({"conversations_days": 0}, {"conversations_days": "$gt"}, {"unknown_days": 3}):
        refused = await client.put(f"{API}/admin/retention", json=bad, headers=admin.headers)
        assert refused.status_code == 422, bad
    policy = await client.put(
        f"{API}/admin/retention", json={"conversations_days": 30}, headers=admin.headers
    )
    assert policy.status_code == 200 and policy.json()["conversations_days"] == 30
    looser = await client.put(
        f"{API}/users/me/retention", json={"conversations_days": 60}, headers=alice.headers
    )
    assert looser.status_code == 422 and "30" in looser.json()["detail"]
    stricter = await client.put(
        f"{API}/users/me/retention",
        json={"conversations_days": 0.5, "files_days": 7},
        headers=alice.headers,
    )
    assert stricter.status_code == 200
    mine = (await client.get(f"{API}/users/me/retention", headers=alice.headers)).json()
    assert mine["conversations_days"] == 0.5 and mine["files_days"] == 7


async def test_preview_counts_what_apply_moves_and_keep_exempts(
    client: httpx.AsyncClient, admin: TestUser, settings: Settings
) -> None:
    user = await register_user(client, name="Olddata")
    ids = await seed(client, user)
    pinned = ids["conversations"][0]
    pin = await client.patch(
        f"{API}/conversations/{pinned}", json={"keep": True}, headers=user.headers
    )
    assert pin.status_code == 200 and pin.json()["keep"] is True
    await get_db().conversations.update_one(
        {"_id": ObjectId(pinned)}, {"$set": {"activity_at": OLD}}
    )
    # A policy that keeps ten-day-old data moves nothing.
    await client.put(
        f"{API}/admin/retention",
        json={"conversations_days": 30, "projects_days": 30},
        headers=admin.headers,
    )
    dry = await run_cli(settings, "retention", "apply", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert await trashed_ids(client, user) == set()
    # The same data, a stricter policy: the change applies to what is stored.
    rules = {"conversations_days": 2, "projects_days": 2}
    await client.put(f"{API}/admin/retention", json=rules, headers=admin.headers)
    preview = await client.post(f"{API}/admin/retention/preview", headers=admin.headers)
    mine = {i["kind"]: i["items"] for i in preview.json()["items"] if i["user_id"] == user.id}
    assert mine == {"conversations": 1, "projects": 1}  # the pinned one is exempt
    assert await trashed_ids(client, user) == set()  # a preview changes nothing
    applied = await run_cli(settings, "retention", "apply")
    assert applied.returncode == 0, applied.stderr
    assert await trashed_ids(client, user) == {ids["conversations"][1], ids["projects"][0]}
    story = await client.get(f"{API}/stories/{ids['stories'][0]}", headers=user.headers)
    assert story.status_code == 200  # stories have no limit
    audit = await client.get(
        f"{API}/admin/audit", params={"action": "retention.apply"}, headers=admin.headers
    )
    assert audit.json()["items"][0]["details"]["items"] >= 2


async def test_a_stricter_user_policy_wins_for_that_user_only(
    client: httpx.AsyncClient, admin: TestUser, settings: Settings
) -> None:
    strict = await register_user(client, name="Strict")
    relaxed = await register_user(client, name="Relaxed")
    strict_ids = await seed(client, strict)
    await seed(client, relaxed)
    await client.put(f"{API}/admin/retention", json={"projects_days": 30}, headers=admin.headers)
    await client.put(f"{API}/users/me/retention", json={"projects_days": 1}, headers=strict.headers)
    await run_cli(settings, "retention", "apply")
    assert await trashed_ids(client, strict) == set(strict_ids["projects"])
    assert await trashed_ids(client, relaxed) == set()


async def many_old_users(client: httpx.AsyncClient, admin: TestUser) -> list[TestUser]:
    users = [await register_user(client, name=f"Many{i}") for i in range(6)]
    for user in users:
        await seed(client, user)
    await client.put(
        f"{API}/admin/retention", json={"conversations_days": 1}, headers=admin.headers
    )
    return users


async def test_a_run_killed_part_way_is_finished_by_the_next(
    client: httpx.AsyncClient, admin: TestUser, settings: Settings
) -> None:
    users = await many_old_users(client, admin)
    env = {
        "MONGODB_URL": settings.mongodb_url or "",
        "MONGODB_DB": settings.mongodb_db,
        "APP_ENV": "test",
    }
    killed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "retention", "apply", env={**os.environ, **env}
    )
    await asyncio.sleep(1.0)  # about when it reads the users: before, during or after
    if killed.returncode is None:
        killed.send_signal(signal.SIGKILL)
    await killed.wait()
    owners = [ObjectId(user.id) for user in users]
    mine = {"owner_id": {"$in": owners}, "trashed_at": {"$ne": None}}
    first_moves = {row["_id"]: row["trashed_at"] async for row in get_db().conversations.find(mine)}
    rerun = await run_cli(settings, "retention", "apply")
    assert rerun.returncode == 0, rerun.stderr
    for user in users:
        assert len(await trashed_ids(client, user)) == 2
    after = {row["_id"]: row["trashed_at"] async for row in get_db().conversations.find(mine)}
    assert len(after) == 12
    assert {k: after[k] for k in first_moves} == first_moves  # not moved again


@needs_isolation  # two processes' guarded updates of the same documents
async def test_two_runs_at_once_move_each_item_once(
    client: httpx.AsyncClient, admin: TestUser, settings: Settings
) -> None:
    users = await many_old_users(client, admin)
    trashed = {"trashed_at": {"$ne": None}}
    before_runs = await get_db().conversations.count_documents(trashed)
    runs = await asyncio.gather(*(run_cli(settings, "retention", "apply") for _ in range(2)))
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    moved = [re.search(r"moved (\d+) item", run.stdout + run.stderr) for run in runs]
    assert all(moved), [run.stdout + run.stderr for run in runs]
    # What the two runs say they moved is what was moved: no item twice.
    moved_now = await get_db().conversations.count_documents(trashed) - before_runs
    assert sum(int(m.group(1)) for m in moved) == moved_now >= 12
    for user in users:
        assert len(await trashed_ids(client, user)) == 2

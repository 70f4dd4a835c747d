"""Storage limits: exact use with deduplication, uploads refused before their bytes land (also
under concurrency), space freed by deletes, and `quota check` agreeing with the counters."""

from __future__ import annotations

import asyncio
import os
import random

import httpx
from bson import ObjectId

from app.database import get_db
from app.settings import Settings
from documents.blob import CHUNKS, FILES
from tests.factories import TestUser, register_user
from tests.racing import needs_isolation
from tests.test_budgets import LIMITS, set_limit
from tests.test_cli import run_cli

PERMANENT = {"permanent": "true"}  # past the trash: what a purge frees

FILES_API = "/api/v1/files"
MIB = 1024 * 1024


async def used(client: httpx.AsyncClient, user: TestUser) -> int:
    return (await client.get(LIMITS, headers=user.headers)).json()["storage"]["used_bytes"]


async def upload(client: httpx.AsyncClient, user: TestUser, data: bytes) -> httpx.Response:
    return await client.post(FILES_API, files={"file": ("f.bin", data)}, headers=user.headers)


async def no_orphan_chunks() -> None:
    db = get_db()
    known = {raw["_id"] async for raw in db[FILES].find({}, {"_id": 1})}
    assert [f for f in await db[CHUNKS].distinct("files_id") if f not in known] == []


async def _twenty_uploads(
    clients: list[httpx.AsyncClient], client, admin, settings: Settings, *, unit: int = MIB
) -> None:
    """20 uploads of `unit` bytes at once against a limit of 10 × `unit`."""
    user = await register_user(client, name="Uploader")
    await set_limit(client, admin, user, None, storage=10 * unit)
    blobs = [os.urandom(unit) for _ in range(20)]

    async def one(i: int) -> httpx.Response:
        return await upload(clients[i % len(clients)], user, blobs[i])

    responses = await asyncio.gather(*(one(i) for i in range(20)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 403} and 1 <= codes.count(201) <= 10, codes
    refused = next(r for r in responses if r.status_code == 403)
    assert refused.json()["type"].endswith("storage-quota-exceeded")
    assert await used(client, user) == codes.count(201) * unit
    await no_orphan_chunks()
    check = await run_cli(settings, "quota", "check", "--owner", user.email)
    assert check.returncode == 0 and "drift: 0" in check.stderr, check.stderr


async def test_twenty_uploads_against_ten_times_their_size(
    client: httpx.AsyncClient, admin, settings: Settings
) -> None:
    """Through the in-process app (the request logic; the embedded engine's one connection
    orders the holds), with files of one chunk batch. The race across processes, of 1 MiB
    files, is the next test."""
    await _twenty_uploads([client], client, admin, settings, unit=128 * 1024)


@needs_isolation
async def test_twenty_racing_uploads_against_ten_mebibytes(
    racers, client: httpx.AsyncClient, admin, settings: Settings
) -> None:
    await _twenty_uploads(racers.clients, client, admin, settings)


async def test_duplicates_count_once_and_deletes_free_exactly(
    client: httpx.AsyncClient, admin, settings: Settings
) -> None:
    user = await register_user(client, name="Dedupe")
    await set_limit(client, admin, user, None, storage=3 * MIB)
    data = os.urandom(MIB + 17)
    first = (await upload(client, user, data)).json()
    assert await used(client, user) == MIB + 17
    second = await upload(client, user, data)
    assert second.status_code == 201 and await used(client, user) == MIB + 17
    other = (await upload(client, user, os.urandom(1000))).json()
    assert await used(client, user) == MIB + 17 + 1000
    too_big = await upload(client, user, os.urandom(2 * MIB))
    assert too_big.status_code == 403 and await used(client, user) == MIB + 1017
    await no_orphan_chunks()

    await client.delete(f"{FILES_API}/{first['id']}", params=PERMANENT, headers=user.headers)
    assert await used(client, user) == MIB + 1017  # the second handle still references it
    await client.delete(
        f"{FILES_API}/{second.json()['id']}", params=PERMANENT, headers=user.headers
    )
    assert await used(client, user) == 1000
    again = await upload(client, user, data)  # the unreferenced blob is counted again
    assert again.status_code == 201 and await used(client, user) == MIB + 1017
    await client.delete(f"{FILES_API}/{other['id']}", params=PERMANENT, headers=user.headers)
    assert await used(client, user) == MIB + 17
    check = await run_cli(settings, "quota", "check", "--owner", user.email)
    assert check.returncode == 0 and "drift: 0" in check.stderr, check.stderr


async def test_quota_check_finds_no_drift_after_a_random_sequence(
    client: httpx.AsyncClient, admin, settings: Settings
) -> None:
    user = await register_user(client, name="Random")
    rng = random.Random(4)
    pool = [os.urandom(rng.randrange(1, 300_000)) for _ in range(6)]
    handles: list[str] = []
    site = (
        await client.post(
            "/api/v1/sites",
            json={"title": "s", "files": [{"path": "index.html", "content": "v1"}]},
            headers=user.headers,
        )
    ).json()
    version = 1
    for step in range(30):
        action = rng.choice(["upload", "upload", "duplicate", "delete", "commit", "usage"])
        if action == "upload" or (action == "duplicate" and not handles):
            response = await upload(client, user, rng.choice(pool))
            handles.append(response.json()["id"])
        elif action == "duplicate":
            await upload(client, user, pool[0])
        elif action == "delete" and handles:
            handle = handles.pop(rng.randrange(len(handles)))
            await client.delete(f"{FILES_API}/{handle}", params=PERMANENT, headers=user.headers)
        elif action == "commit":
            committed = await client.post(
                f"/api/v1/sites/{site['id']}/versions",
                json={
                    "base_version": version,
                    "changes": [{"path": f"p{step}.html", "content": f"page {step}"}],
                },
                headers=user.headers,
            )
            version = committed.json()["number"]
        else:
            await client.post(
                "/api/v1/usage",
                json={"provider": "p", "model": "m", "operation": "o", "cost_usd": "0.25"},
                headers=user.headers,
            )
    only = ("--owner", user.email)
    check = await run_cli(settings, "quota", "check", *only)
    assert check.returncode == 0 and "drift: 0" in check.stderr, check.stderr
    await get_db()["storage_use"].update_one({"_id": user.id}, {"$inc": {"used_bytes": 5}})
    # This user's counters only: the run ends with a check of every user's (conftest.py).
    await get_db()["spend_budgets"].update_many(
        {"owner_id": ObjectId(user.id)}, {"$inc": {"spent_micros": 1}}
    )
    drifted = await run_cli(settings, "quota", "check", *only)
    assert drifted.returncode == 1 and "used_bytes" in drifted.stderr
    assert "spent_micros" in drifted.stderr
    fixed = await run_cli(settings, "quota", "check", "--fix", *only)
    assert fixed.returncode == 0, fixed.stderr
    final = await run_cli(settings, "quota", "check", *only)
    assert final.returncode == 0 and "drift: 0" in final.stderr, final.stderr

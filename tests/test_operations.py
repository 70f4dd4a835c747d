"""Operations: structured logs without secrets, `dev reset`, clean-up under traffic, and the
sharding rule for unique indexes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import uuid
from datetime import timedelta

import httpx
from pymongo import AsyncMongoClient

from app import storage
from app.jobs.cleanup import run_cleanup
from app.observability import JsonLogFormatter
from app.settings import Settings
from documents import GLOBAL_COLLECTIONS, OWNED_DOCUMENTS
from documents.blob import BLOB_INDEXES
from tests.factories import make_api_key, register_user
from tests.racing import Racers
from tests.test_cli import run_cli


async def test_logs_are_json_with_request_ids_and_no_secrets(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        password = "hunter2-very-secret"
        email = f"logger-{uuid.uuid4().hex[:8]}@example.com"
        await client.post("/api/v1/auth/register", json={"email": email, "password": password})
        token = (
            await client.post("/api/v1/auth/token", data={"username": email, "password": password})
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        conversation = (await client.post("/api/v1/conversations", json={}, headers=headers)).json()
        secret_text = "my-private-message-content"
        await client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"role": "user", "content": secret_text},
            headers={**headers, "X-Request-ID": "trace-42"},
        )
        user = await register_user(client, name="KeyLogger")
        key = await make_api_key(client, user, ["*"])
        await client.get("/api/v1/users/me", headers={"X-API-Key": key})
        await client.post(
            "/api/v1/auth/token", data={"username": email, "password": "wrong-" + password}
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line for line in lines if line["msg"] == "request"]
    assert requests and all(line.get("request_id") for line in requests)
    assert any(
        line["request_id"] == "trace-42"
        and line["route"] == "/api/v1/conversations/{conversation_id}/messages"
        for line in requests
    )
    text = stream.getvalue()
    for secret in (password, token, key, secret_text, email):
        assert secret not in text


async def test_dev_reset_drops_the_database_but_never_in_production(settings: Settings) -> None:
    name = f"reset_{uuid.uuid4().hex[:8]}"
    mongo: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    try:
        await mongo[name]["things"].insert_one({"x": 1})
        target = settings.model_copy(update={"mongodb_db": name})
        production = await run_cli(
            target, "dev", "reset", "--yes", env={"APP_ENV": "production", "SECRET_KEY": "z" * 40}
        )
        assert production.returncode == 1 and "Refused" in production.stderr
        assert await mongo[name]["things"].count_documents({}) == 1
        dropped = await run_cli(target, "dev", "reset", "--yes")
        assert dropped.returncode == 0, dropped.stderr
        assert name not in await mongo.list_database_names()
    finally:
        await mongo.drop_database(name)
        await mongo.close()


UPLOADERS = 3


async def test_cleanup_under_concurrent_writes_keeps_everything_live(
    client: httpx.AsyncClient, racers: Racers
) -> None:
    """Sweeps with no grace at all, on the test's own connection, while uploads of several
    chunk batches and appends run in other processes over their own pools: the upload leases,
    not a clock and not a shared connection, keep every upload's chunks and blob alive."""
    user = await register_user(client, name="Busy")
    # One conversation per uploader: appends to one document from several connections are a
    # different race, which needs an engine that isolates them (tests/racing.py).
    conversations = [
        (await client.post("/api/v1/conversations", json={}, headers=user.headers)).json()["id"]
        for _ in range(UPLOADERS)
    ]
    size = 3 * storage.WRITE_BATCH_CHUNKS * storage.CHUNK_SIZE // 2  # two chunk batches
    sent: dict[str, str] = {}
    done = asyncio.Event()
    sweeps_done = 0
    sweeping = False
    overlapped = 0
    appended: dict[int, int] = {}

    async def uploader(http: httpx.AsyncClient, n: int) -> None:
        """Each upload starts while a sweep is under way (a sweep's length grows with the
        database, so the overlap is arranged, not timed)."""
        nonlocal overlapped
        i = 0
        while i < 3:
            while not sweeping:
                await asyncio.sleep(0.005)
            data = os.urandom(size)
            upload = await http.post(
                "/api/v1/files", files={"file": (f"f{n}-{i}", data)}, headers=user.headers
            )
            assert upload.status_code == 201, upload.text
            overlapped += 1
            sent[upload.json()["id"]] = hashlib.sha256(data).hexdigest()
            message = await http.post(
                f"/api/v1/conversations/{conversations[n]}/messages",
                json={"role": "user", "content": f"m{n}-{i}"},
                headers=user.headers,
            )
            assert message.status_code == 201
            i += 1
        appended[n] = i

    async def sweeps() -> None:
        nonlocal sweeps_done, sweeping
        while not done.is_set():
            sweeping = True
            await run_cleanup(blob_grace=timedelta(0))
            sweeping = False
            sweeps_done += 1
            await asyncio.sleep(0.01)

    sweeper = asyncio.create_task(sweeps())
    try:
        await racers.race([lambda http, n=n: uploader(http, n) for n in range(UPLOADERS)])
    finally:
        done.set()
        await sweeper
    assert sweeps_done >= 1 and overlapped == UPLOADERS * 3
    await run_cleanup(blob_grace=timedelta(0))
    for file_id, sha in sent.items():
        content = await client.get(f"/api/v1/files/{file_id}/content", headers=user.headers)
        assert content.status_code == 200 and hashlib.sha256(content.content).hexdigest() == sha
    for n, conversation_id in enumerate(conversations):
        messages = await client.get(
            f"/api/v1/conversations/{conversation_id}/messages",
            params={"limit": 100},
            headers=user.headers,
        )
        assert [m["seq"] for m in messages.json()["items"]] == list(range(1, appended[n] + 1))


async def test_cleanup_expires_conversations_and_prunes_windows(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await register_user(client, name="Expiring")
    expired = (
        await client.post(
            "/api/v1/conversations",
            json={"expires_at": "2020-01-01T00:00:00Z"},
            headers=user.headers,
        )
    ).json()
    live = (await client.post("/api/v1/conversations", json={}, headers=user.headers)).json()
    dry = await run_cli(settings, "cleanup", "--dry-run")
    assert dry.returncode == 0 and "dry run" in dry.stdout
    assert (
        await client.get(f"/api/v1/conversations/{expired['id']}", headers=user.headers)
    ).status_code == 200
    result = await run_cli(settings, "cleanup")
    assert result.returncode == 0 and "expired conversations" in result.stdout
    assert (
        await client.get(f"/api/v1/conversations/{expired['id']}", headers=user.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/conversations/{live['id']}", headers=user.headers)
    ).status_code == 200


def test_unique_indexes_of_owned_collections_start_with_owner_id() -> None:
    """The sharding rule: every owned collection shards on owner_id, so each of its unique
    indexes must start with owner_id (README: Scaling)."""

    checked = 0
    for model in OWNED_DOCUMENTS:
        name = model.get_settings().name
        if name in GLOBAL_COLLECTIONS:
            continue
        for index in getattr(model.Settings, "indexes", []):
            document = index.document
            if document.get("unique"):
                checked += 1
                assert next(iter(document["key"])) == "owner_id", (name, document["name"])
    for collection, indexes in BLOB_INDEXES.items():
        for index in indexes:
            if index.document.get("unique") and collection.endswith(".files"):
                checked += 1
                assert next(iter(index.document["key"])) == "metadata.owner_id"
    assert checked >= 3

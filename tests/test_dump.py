"""Export, import into a new database, and the same API answers; corrupt dumps are refused."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from app.settings import Settings
from tests.factories import TestUser, register_user
from tests.servers import PATIENT, served_app
from tests.test_cli import run_cli

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


async def build_user_world(client: httpx.AsyncClient) -> tuple[TestUser, list[str]]:
    """A realistic user: a conversation, a site with history, files, a drawing and a story."""
    user = await register_user(client, name="Exporter")
    h = user.headers
    conversation = (
        await client.post("/api/v1/conversations", json={"title": "Bakery"}, headers=h)
    ).json()
    for i in range(5):
        await client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"role": "user", "content": f"m{i}"},
            headers=h,
        )
    site = (
        await client.post(
            "/api/v1/sites",
            json={"title": "S", "files": [{"path": "index.html", "content": "<h1>1</h1>"}]},
            headers=h,
        )
    ).json()
    await client.post(
        f"/api/v1/sites/{site['id']}/versions",
        json={"base_version": 1, "changes": [{"path": "index.html", "content": "<h1>2</h1>"}]},
        headers=h,
    )
    file = (
        await client.post(
            "/api/v1/files", files={"file": ("a.bin", bytes(range(256)) * 100)}, headers=h
        )
    ).json()
    drawing = (
        await client.post("/api/v1/drawings", files={"image": ("d.png", PNG)}, headers=h)
    ).json()
    await client.post(
        "/api/v1/stories",
        json={"title": "T", "text": {"en": "e", "de": "d"}, "drawing_id": drawing["id"]},
        headers=h,
    )
    await client.post(
        "/api/v1/usage",
        json={"provider": "p", "model": "m", "operation": "o", "cost_usd": 0.25},
        headers=h,
    )
    return user, [
        "/api/v1/users/me",
        "/api/v1/conversations",
        f"/api/v1/conversations/{conversation['id']}/messages",
        f"/api/v1/sites/{site['id']}",
        f"/api/v1/sites/{site['id']}/versions",
        f"/api/v1/sites/{site['id']}/versions/1",
        f"/api/v1/sites/{site['id']}/files/index.html?version=1",
        "/api/v1/files",
        f"/api/v1/files/{file['id']}/content",
        f"/api/v1/drawings/{drawing['id']}",
        "/api/v1/stories",
        "/api/v1/analytics/summary",
        "/api/v1/analytics/usage?group_by=model",
    ]


async def test_export_then_import_reproduces_the_api(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    user, paths = await build_user_world(client)
    before = {path: (await client.get(path, headers=user.headers)) for path in paths}
    dump = tmp_path / "dump"
    exported = await run_cli(settings, "export", str(dump))
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((dump / "manifest.json").read_text())
    assert manifest["collections"]["conversations"]["count"] >= 1 and manifest["blobs"]

    target = settings.model_copy(update={"mongodb_db": f"import_{uuid.uuid4().hex[:8]}"})
    imported = await run_cli(target, "import", str(dump))
    assert imported.returncode == 0, imported.stderr
    refused = await run_cli(target, "import", str(dump))
    assert refused.returncode == 1 and "not empty" in refused.stderr

    async with served_app(target) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=PATIENT) as copy:
            for path in paths:
                after = await copy.get(path, headers=user.headers)
                assert after.status_code == before[path].status_code == 200, path
                assert after.content == before[path].content, path
    from pymongo import AsyncMongoClient

    mongo: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    await mongo.drop_database(target.mongodb_db)
    await mongo.close()


async def test_a_corrupt_dump_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await register_user(client, name="Small")
    dump = tmp_path / "dump"
    assert (await run_cli(settings, "export", str(dump))).returncode == 0
    users = dump / "collections" / "users.jsonl"
    users.write_text(users.read_text().replace('"email"', '"emial"', 1))
    target = settings.model_copy(update={"mongodb_db": f"corrupt_{uuid.uuid4().hex[:8]}"})
    result = await run_cli(target, "import", str(dump))
    assert (
        result.returncode == 1
        and "checksum" in result.stderr
        and "Nothing was written" in result.stderr
    )
    from pymongo import AsyncMongoClient

    mongo: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    try:
        names = await mongo[target.mongodb_db].list_collection_names()
        counts = [await mongo[target.mongodb_db][n].count_documents({}) for n in names]
        assert sum(counts) == 0
    finally:
        await mongo.drop_database(target.mongodb_db)
        await mongo.close()

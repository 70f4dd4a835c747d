"""The trash: a delete of any kind moves it aside (gone from every read path), a restore brings it
back exactly as it was, and a purge (by hand, by emptying, or `TRASH_DAYS` later by `cleanup`)
removes it with everything that goes with it, down to the blob bytes and the storage count."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from bson import ObjectId

from app.database import get_db
from app.jobs.cleanup import run_cleanup
from documents.blob import FILES
from tests.factories import TestUser

API = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)

Maker = Callable[[httpx.AsyncClient, TestUser], Awaitable[str]]


async def _conversation(client: httpx.AsyncClient, user: TestUser) -> str:
    made = await client.post(f"{API}/conversations", json={"title": "plans"}, headers=user.headers)
    conversation_id = made.json()["id"]
    for text in ("first", "second"):
        await client.post(
            f"{API}/conversations/{conversation_id}/messages",
            json={"role": "user", "content": text},
            headers=user.headers,
        )
    return conversation_id


async def _site(client: httpx.AsyncClient, user: TestUser) -> str:
    files = [{"path": "index.html", "content": "<p>home</p>"}]
    made = await client.post(
        f"{API}/sites", json={"title": "home", "files": files}, headers=user.headers
    )
    return made.json()["id"]


async def _file(client: httpx.AsyncClient, user: TestUser) -> str:
    made = await client.post(
        f"{API}/files",
        files={"file": ("notes.txt", b"keep me", "text/plain")},
        headers=user.headers,
    )
    return made.json()["id"]


async def _drawing(client: httpx.AsyncClient, user: TestUser) -> str:
    made = await client.post(
        f"{API}/drawings", files={"image": ("d.png", PNG, "image/png")}, headers=user.headers
    )
    return made.json()["id"]


async def _story(client: httpx.AsyncClient, user: TestUser) -> str:
    made = await client.post(
        f"{API}/stories", json={"title": "once", "text": {"en": "upon"}}, headers=user.headers
    )
    return made.json()["id"]


async def _workflow(client: httpx.AsyncClient, user: TestUser) -> str:
    made = await client.post(f"{API}/workflows", json={"prompt": "a cat"}, headers=user.headers)
    return made.json()["id"]


async def _project(client: httpx.AsyncClient, user: TestUser) -> str:
    made = await client.post(f"{API}/projects", json={"name": "shop"}, headers=user.headers)
    return made.json()["id"]


KINDS: dict[str, tuple[str, Maker]] = {
    "conversation": ("conversations", _conversation),
    "site": ("sites", _site),
    "file": ("files", _file),
    "drawing": ("drawings", _drawing),
    "story": ("stories", _story),
    "workflow": ("workflows", _workflow),
    "project": ("projects", _project),
}


async def export_of(client: httpx.AsyncClient, user: TestUser) -> dict[str, bytes]:
    """The account export's members: every owned collection and blob, as stored."""
    response = await client.get(f"{API}/users/me/export", headers=user.headers)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def used_bytes(client: httpx.AsyncClient, user: TestUser) -> int:
    limits = (await client.get(f"{API}/users/me/limits", headers=user.headers)).json()
    return limits["storage"]["used_bytes"]


async def trash_of(client: httpx.AsyncClient, user: TestUser, **params) -> list[dict]:
    page = await client.get(f"{API}/trash", params=params, headers=user.headers)
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def test_anonymous_is_401_and_another_owners_item_is_404(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    assert (await client.get(f"{API}/trash")).status_code == 401
    project_id = await _project(client, alice)
    await client.delete(f"{API}/projects/{project_id}", headers=alice.headers)
    for method, path in (
        ("POST", f"{API}/trash/{project_id}/restore"),
        ("DELETE", f"{API}/trash/{project_id}"),
    ):
        response = await client.request(method, path, headers=bob.headers)
        assert response.status_code == 404, (method, path)
    assert await trash_of(client, bob) == []
    assert [item["id"] for item in await trash_of(client, alice)] == [project_id]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_delete_restore_and_purge_each_kind(
    client: httpx.AsyncClient, alice: TestUser, kind: str
) -> None:
    area, make = KINDS[kind]
    baseline = await used_bytes(client, alice)
    item_id = await make(client, alice)
    path = f"{API}/{area}/{item_id}"
    before = (await client.get(path, headers=alice.headers)).json()
    exported = await export_of(client, alice)

    assert (await client.delete(path, headers=alice.headers)).status_code == 204
    assert (await client.get(path, headers=alice.headers)).status_code == 404
    listed = (await client.get(f"{API}/{area}", headers=alice.headers)).json()["items"]
    assert item_id not in [item["id"] for item in listed]
    assert (await client.delete(path, headers=alice.headers)).status_code == 404  # once
    (item,) = await trash_of(client, alice)
    assert (item["kind"], item["id"]) == (kind, item_id)
    assert item["purge_at"] > item["deleted_at"]

    restored = await client.post(f"{API}/trash/{item_id}/restore", headers=alice.headers)
    assert restored.status_code == 200 and restored.json()["id"] == item_id
    assert (await client.get(path, headers=alice.headers)).json() == before
    assert await export_of(client, alice) == exported  # all of it, exactly as it was
    assert await trash_of(client, alice) == []

    await client.delete(path, headers=alice.headers)
    assert (await client.delete(f"{API}/trash/{item_id}", headers=alice.headers)).status_code == 204
    assert await trash_of(client, alice) == []
    assert (await client.get(path, headers=alice.headers)).status_code == 404
    again = await client.post(f"{API}/trash/{item_id}/restore", headers=alice.headers)
    assert again.status_code == 404
    await run_cleanup(blob_grace=timedelta(0))
    assert await used_bytes(client, alice) == baseline  # its bytes no longer counted, nor kept
    blobs = {"metadata.owner_id": ObjectId(alice.id)}
    assert await get_db()[FILES].count_documents(blobs) == 0


async def test_permanent_delete_skips_the_trash(client: httpx.AsyncClient, alice: TestUser) -> None:
    conversation_id = await _conversation(client, alice)
    gone = await client.delete(
        f"{API}/conversations/{conversation_id}",
        params={"permanent": "true"},
        headers=alice.headers,
    )
    assert gone.status_code == 204
    assert await trash_of(client, alice) == []
    stored = {"_id": ObjectId(conversation_id)}
    assert await get_db().conversations.count_documents(stored) == 0


async def test_a_trashed_file_counts_until_purged_then_its_blob_goes(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    file_id = await _file(client, alice)

    async def used() -> int:
        limits = (await client.get(f"{API}/users/me/limits", headers=alice.headers)).json()
        return limits["storage"]["used_bytes"]

    await client.delete(f"{API}/files/{file_id}", headers=alice.headers)
    await run_cleanup(blob_grace=timedelta(0))
    assert await used() == len(b"keep me")  # still in the trash: still stored, still counted
    blobs = {"metadata.owner_id": ObjectId(alice.id)}
    assert await get_db()[FILES].count_documents(blobs) == 1
    await client.delete(f"{API}/trash/{file_id}", headers=alice.headers)
    await run_cleanup(blob_grace=timedelta(0))
    assert await used() == 0
    assert await get_db()[FILES].count_documents(blobs) == 0


async def test_a_share_of_a_trashed_conversation_is_410_until_restored(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation_id = await _conversation(client, alice)
    share = (
        await client.post(
            f"{API}/conversations/{conversation_id}/shares",
            json={"mode": "snapshot"},
            headers=alice.headers,
        )
    ).json()
    link = share["url"].split("://", 1)[1].split("/", 1)[1]
    assert (await client.get(f"/{link}")).status_code == 200
    await client.delete(f"{API}/conversations/{conversation_id}", headers=alice.headers)
    gone = await client.get(f"/{link}")
    assert gone.status_code == 410 and "trash" in gone.json()["detail"]
    await client.post(f"{API}/trash/{conversation_id}/restore", headers=alice.headers)
    assert (await client.get(f"/{link}")).status_code == 200
    await client.delete(f"{API}/conversations/{conversation_id}", headers=alice.headers)
    await client.delete(f"{API}/trash/{conversation_id}", headers=alice.headers)
    assert (await client.get(f"/{link}")).status_code == 404  # purged with its conversation
    shares = await client.get(f"{API}/shares", headers=alice.headers)
    assert shares.json()["items"] == []


async def test_the_trash_pages_across_kinds_newest_first_and_empties(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    deleted = []
    for kind in ("project", "file", "conversation", "story", "project"):
        area, make = KINDS[kind]
        item_id = await make(client, alice)
        await client.delete(f"{API}/{area}/{item_id}", headers=alice.headers)
        deleted.append(item_id)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/trash", params=params, headers=alice.headers)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(deleted))
    only = await trash_of(client, alice, kind="project")
    assert [item["id"] for item in only] == [deleted[4], deleted[0]]
    emptied = await client.delete(f"{API}/trash", headers=alice.headers)
    assert emptied.json() == {"purged": 5}
    assert await trash_of(client, alice) == []


async def test_cleanup_purges_what_stayed_past_trash_days(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation_id = await _conversation(client, alice)
    await client.delete(f"{API}/conversations/{conversation_id}", headers=alice.headers)
    kept = await run_cleanup(trash_keep=timedelta(days=1))
    assert kept.trash_purged == 0 and len(await trash_of(client, alice)) == 1
    report = await run_cleanup(trash_keep=timedelta(0))
    assert report.trash_purged >= 1  # and whatever other tests of this database left
    assert await trash_of(client, alice) == []

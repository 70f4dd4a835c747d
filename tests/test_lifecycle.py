"""Legal holds stop every path that purges a held user's data (user actions answer 409, jobs
skip and report), deletes still reach the trash and the export still works; releasing the hold
lets the same paths work again. Temporary conversations are purged after their window. The audit
trail records holds and purges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId

from app.database import get_db
from app.jobs.cleanup import run_cleanup
from documents.blob import FILES
from tests.factories import TestUser, register_user

API = "/api/v1"
PERMANENT = {"permanent": "true"}


async def hold(client: httpx.AsyncClient, admin: TestUser, user: TestUser) -> dict:
    placed = await client.post(
        f"{API}/admin/holds",
        json={"user_id": user.id, "reason": "litigation 2026-17"},
        headers=admin.headers,
    )
    assert placed.status_code == 201, placed.text
    return placed.json()


async def conversation(client: httpx.AsyncClient, user: TestUser, **fields) -> str:
    made = await client.post(f"{API}/conversations", json=fields, headers=user.headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def test_holds_are_for_administrators(
    client: httpx.AsyncClient, alice: TestUser, admin: TestUser
) -> None:
    assert (await client.get(f"{API}/admin/holds")).status_code == 401
    refused = await client.post(
        f"{API}/admin/holds", json={"user_id": alice.id, "reason": "x"}, headers=alice.headers
    )
    assert refused.status_code == 403
    unknown = await client.post(
        f"{API}/admin/holds", json={"user_id": "0" * 24, "reason": "x"}, headers=admin.headers
    )
    assert unknown.status_code == 404
    injected = await client.post(
        f"{API}/admin/holds", json={"user_id": {"$ne": None}, "reason": "x"}, headers=admin.headers
    )
    assert injected.status_code == 422
    missing = await client.delete(f"{API}/admin/holds/{'0' * 24}", headers=admin.headers)
    assert missing.status_code == 404


async def test_a_hold_stops_every_purge_until_released(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    user = await register_user(client, name="Held")
    owner = ObjectId(user.id)
    trashed = await conversation(client, user, title="evidence")
    kept = await conversation(client, user, title="kept")
    temporary = await conversation(client, user, title="for now", temporary=True)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    expired = await conversation(client, user, title="expiring", expires_at=past)
    # A blob nothing references any more (its file deleted for good before the hold).
    upload = await client.post(
        f"{API}/files", files={"file": ("old.txt", b"an old file")}, headers=user.headers
    )
    await client.delete(
        f"{API}/files/{upload.json()['id']}", params=PERMANENT, headers=user.headers
    )

    placed = await hold(client, admin, user)
    assert placed["active"] and placed["user_id"] == user.id

    # Deletes still reach the trash; every purge a user asks for is 409.
    assert (
        await client.delete(f"{API}/conversations/{trashed}", headers=user.headers)
    ).status_code == 204
    for method, path, params in (
        ("DELETE", f"{API}/conversations/{kept}", PERMANENT),
        ("DELETE", f"{API}/trash/{trashed}", None),
        ("DELETE", f"{API}/trash", None),
    ):
        refused = await client.request(method, path, params=params, headers=user.headers)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["type"].endswith("/legal-hold")
    deletion = await client.request(
        "DELETE", f"{API}/users/me", json={"password": user.password}, headers=user.headers
    )
    assert deletion.status_code == 409
    # Jobs skip the held user and say so.
    report = await run_cleanup(
        blob_grace=timedelta(0), trash_keep=timedelta(0), temporary_keep=timedelta(0)
    )
    assert report.trash_held >= 1
    for conversation_id in (kept, temporary, expired):
        found = await client.get(f"{API}/conversations/{conversation_id}", headers=user.headers)
        assert found.status_code == 200, conversation_id
    trash = (await client.get(f"{API}/trash", headers=user.headers)).json()["items"]
    assert [item["id"] for item in trash] == [trashed]
    assert await get_db()[FILES].count_documents({"metadata.owner_id": owner}) == 1
    export = await client.get(f"{API}/users/me/export", headers=user.headers)
    assert export.status_code == 200

    released = await client.delete(f"{API}/admin/holds/{placed['id']}", headers=admin.headers)
    assert released.status_code == 200 and not released.json()["active"]
    assert released.json()["released_by"] == admin.id
    again = await client.delete(f"{API}/admin/holds/{placed['id']}", headers=admin.headers)
    assert again.status_code == 409

    # The same paths work now.
    purged = await client.delete(f"{API}/trash/{trashed}", headers=user.headers)
    assert purged.status_code == 204
    report = await run_cleanup(
        blob_grace=timedelta(0), trash_keep=timedelta(0), temporary_keep=timedelta(0)
    )
    assert report.temporary_purged >= 1
    for conversation_id in (temporary, expired):
        gone = await client.get(f"{API}/conversations/{conversation_id}", headers=user.headers)
        assert gone.status_code == 404, conversation_id
    assert await get_db()[FILES].count_documents({"metadata.owner_id": owner}) == 0
    deleted = await client.request(
        "DELETE", f"{API}/users/me", json={"password": user.password}, headers=user.headers
    )
    assert deleted.status_code == 204

    audit = (
        await client.get(f"{API}/admin/audit", params={"user_id": user.id}, headers=admin.headers)
    ).json()["items"]
    actions = [entry["action"] for entry in audit]
    assert actions[:3] == ["trash.purge", "hold.release", "hold.create"]
    assert "delete.permanent" in actions
    holds = (
        await client.get(f"{API}/admin/holds", params={"user_id": user.id}, headers=admin.headers)
    ).json()["items"]
    assert [h["id"] for h in holds] == [placed["id"]]  # the released hold stays on record


async def test_temporary_conversations_are_listed_apart_and_purged_after_their_window(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    temporary = await conversation(client, alice, title="scratch", temporary=True)
    lasting = await conversation(client, alice, title="keep")
    listed = (await client.get(f"{API}/conversations", headers=alice.headers)).json()["items"]
    assert [c["id"] for c in listed] == [lasting]
    only = await client.get(
        f"{API}/conversations", params={"temporary": "true"}, headers=alice.headers
    )
    assert [c["id"] for c in only.json()["items"]] == [temporary]
    assert only.json()["items"][0]["temporary"] is True
    await run_cleanup(temporary_keep=timedelta(hours=1))
    assert (
        await client.get(f"{API}/conversations/{temporary}", headers=alice.headers)
    ).status_code == 200
    report = await run_cleanup(temporary_keep=timedelta(0))
    assert report.temporary_purged >= 1
    assert (
        await client.get(f"{API}/conversations/{temporary}", headers=alice.headers)
    ).status_code == 404
    assert (await client.get(f"{API}/trash", headers=alice.headers)).json()["items"] == []
    assert (
        await client.get(f"{API}/conversations/{lasting}", headers=alice.headers)
    ).status_code == 200

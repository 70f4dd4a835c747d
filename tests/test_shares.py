"""Share links through the public API: snapshot and live, limits, passwords, revocation, and
nothing leaked to viewers."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta

import httpx

from app.jobs.cleanup import run_cleanup
from tests.factories import TestUser, register_user
from tests.racing import Racers, needs_isolation

PERMANENT = {"permanent": "true"}  # past the trash: what a purge frees

API = "/api/v1"


async def conversation_with(client: httpx.AsyncClient, user: TestUser, *texts: str) -> dict:
    conversation = (
        await client.post(f"{API}/conversations", json={"title": "shared"}, headers=user.headers)
    ).json()
    conversation["messages"] = []
    for text in texts:
        message = await client.post(
            f"{API}/conversations/{conversation['id']}/messages",
            json={
                "role": "user",
                "content": text,
                "usage": {"prompt_tokens": 5, "completion_tokens": 7},
            },
            headers=user.headers,
        )
        conversation["messages"].append(message.json())
    return conversation


async def share(
    client: httpx.AsyncClient, user: TestUser, path: str, **body: object
) -> httpx.Response:
    return await client.post(f"{API}/{path}/shares", json=body, headers=user.headers)


def token_of(created: httpx.Response) -> str:
    assert created.status_code == 201, created.text
    return created.json()["token"]


async def test_anonymous_is_401_on_owner_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/shares")).status_code == 401
    assert (await client.get(f"{API}/shares/{'0' * 24}")).status_code == 401


async def test_snapshot_stays_live_follows_and_up_to_cuts(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await conversation_with(client, alice, "one", "two", "three")
    path = f"conversations/{conversation['id']}"
    snapshot = token_of(await share(client, alice, path, mode="snapshot"))
    live = token_of(await share(client, alice, path, mode="live"))
    second = conversation["messages"][1]["id"]
    cut = token_of(await share(client, alice, path, mode="snapshot", up_to_message_id=second))
    live_cut = token_of(await share(client, alice, path, mode="live", up_to_message_id=second))
    # After sharing: an edit and a new message.
    first = conversation["messages"][0]["id"]
    await client.patch(
        f"{API}/{path}/messages/{first}", json={"content": "ONE (edited)"}, headers=alice.headers
    )
    await client.post(
        f"{API}/{path}/messages",
        json={"role": "assistant", "content": "four"},
        headers=alice.headers,
    )

    async def contents(token: str) -> list[str]:
        response = await client.get(f"/s/{token}")
        assert response.status_code == 200, response.text
        return [m["content"] for m in response.json()["messages"]]

    assert await contents(snapshot) == ["one", "two", "three"]
    assert await contents(live) == ["ONE (edited)", "two", "three", "four"]
    assert await contents(cut) == ["one", "two"]
    assert await contents(live_cut) == ["ONE (edited)", "two"]
    shown = (await client.get(f"/s/{snapshot}")).json()
    assert shown["title"] == "shared" and shown["mode"] == "snapshot" and shown["shared_at"]


async def test_viewers_see_nothing_of_the_owner(client: httpx.AsyncClient, alice: TestUser) -> None:
    conversation = await conversation_with(client, alice, "hello")
    token = token_of(await share(client, alice, f"conversations/{conversation['id']}", mode="live"))
    text = (await client.get(f"/s/{token}")).text
    assert alice.id not in text and alice.email not in text
    for leaked in ("owner_id", "usage", "cost", "tokens", "metadata", "model"):
        assert leaked not in text, leaked
    message = (await client.get(f"/s/{token}")).json()["messages"][0]
    assert set(message) == {"id", "role", "content", "type", "parent_id", "created_at", "edited_at"}


async def test_owner_routes_list_patch_and_revoke(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    conversation = await conversation_with(client, alice, "hi")
    created = await share(client, alice, f"conversations/{conversation['id']}", mode="live")
    body = created.json()
    assert body["url"] == f"http://sites.test/s/{body['token']}" and len(body["token"]) >= 22
    assert body["resource"] == "conversation" and body["has_password"] is False
    share_id = body["id"]
    listed = (
        await client.get(
            f"{API}/shares", params={"resource": "conversation"}, headers=alice.headers
        )
    ).json()
    assert share_id in [s["id"] for s in listed["items"]]
    assert all(s["token"] is None and s["url"] is None for s in listed["items"])
    assert (
        await client.get(f"{API}/shares", params={"resource": "site"}, headers=alice.headers)
    ).json()["items"] == []
    for method in ("GET", "PATCH", "DELETE"):
        foreign = await client.request(
            method,
            f"{API}/shares/{share_id}",
            json={} if method == "PATCH" else None,
            headers=bob.headers,
        )
        assert foreign.status_code == 404, method
    patched = await client.patch(
        f"{API}/shares/{share_id}",
        json={"max_views": 5, "password": "open sesame"},
        headers=alice.headers,
    )
    assert patched.json()["max_views"] == 5 and patched.json()["has_password"] is True
    cleared = await client.patch(
        f"{API}/shares/{share_id}", json={"password": None}, headers=alice.headers
    )
    assert cleared.json()["has_password"] is False
    assert (await client.get(f"/s/{body['token']}")).status_code == 200
    assert (
        await client.delete(f"{API}/shares/{share_id}", headers=alice.headers)
    ).status_code == 204
    gone = await client.get(f"/s/{body['token']}")
    assert gone.status_code == 410 and "revoked" in gone.json()["detail"]
    assert gone.headers["content-type"] == "application/problem+json"
    after = (await client.get(f"{API}/shares/{share_id}", headers=alice.headers)).json()
    assert after["revoked"] is True and after["views"] == 1
    assert (await client.get("/s/not-a-token")).status_code == 404


async def test_expiry(client: httpx.AsyncClient, alice: TestUser) -> None:
    conversation = await conversation_with(client, alice, "soon gone")
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    token = token_of(
        await share(
            client, alice, f"conversations/{conversation['id']}", mode="live", expires_at=soon
        )
    )
    assert (await client.get(f"/s/{token}")).status_code == 200
    await asyncio.sleep(2)
    expired = await client.get(f"/s/{token}")
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]


async def test_max_views_are_counted_exactly(client: httpx.AsyncClient, alice: TestUser) -> None:
    conversation = await conversation_with(client, alice, "three times")
    token = token_of(
        await share(
            client, alice, f"conversations/{conversation['id']}", mode="snapshot", max_views=3
        )
    )
    statuses = [(await client.get(f"/s/{token}")).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 410, 410]
    exhausted = await client.get(f"/s/{token}")
    assert "viewed as many times" in exhausted.json()["detail"]


@needs_isolation
async def test_max_views_hold_under_concurrent_viewers(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """20 viewers at once over separate connections, `max_views=3`: the guarded `$inc` of one
    share document decides, which needs an engine that isolates updates of one document."""
    conversation = await conversation_with(client, alice, "popular")
    token = token_of(
        await share(client, alice, f"conversations/{conversation['id']}", mode="live", max_views=3)
    )
    responses = await racers.race([lambda http: http.get(f"/s/{token}")] * 20)
    assert sorted(r.status_code for r in responses) == [200] * 3 + [410] * 17


async def test_passwords_and_their_limit(client: httpx.AsyncClient, alice: TestUser) -> None:
    # Guesses are counted per minute: start early in one, so the eleven fall in the same one.
    if time.time() % 60 > 40:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    conversation = await conversation_with(client, alice, "secret")
    token = token_of(
        await share(
            client,
            alice,
            f"conversations/{conversation['id']}",
            mode="snapshot",
            password="open sesame",
        )
    )
    missing = await client.get(f"/s/{token}")
    assert (
        missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    )
    assert (
        await client.get(f"/s/{token}", headers={"Share-Password": "open sesame"})
    ).status_code == 200
    wrong = [
        (await client.get(f"/s/{token}", headers={"Share-Password": f"guess {i}"})).status_code
        for i in range(10)
    ]
    assert wrong == [401] * 10  # asking (no password) was not counted as a guess
    limited = await client.get(f"/s/{token}", headers={"Share-Password": "guess 11"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # Locked for the rest of the minute, even with the right password.
    locked = await client.get(f"/s/{token}", headers={"Share-Password": "open sesame"})
    assert locked.status_code == 429


async def test_site_snapshot_pins_its_version_and_live_follows(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    site = (
        await client.post(
            f"{API}/sites",
            json={"title": "shared", "files": [{"path": "index.html", "content": "v1"}]},
            headers=alice.headers,
        )
    ).json()
    await client.post(
        f"{API}/sites/{site['id']}/versions",
        json={
            "base_version": 1,
            "changes": [
                {"path": "index.html", "content": "v2"},
                {"path": "css/site.css", "content": "body{}"},
            ],
        },
        headers=alice.headers,
    )
    snapshot = token_of(await share(client, alice, f"sites/{site['id']}", mode="snapshot"))
    live = token_of(await share(client, alice, f"sites/{site['id']}", mode="live"))
    first = token_of(await share(client, alice, f"sites/{site['id']}", mode="snapshot", version=1))
    await client.post(
        f"{API}/sites/{site['id']}/versions",
        json={
            "base_version": 2,
            "changes": [
                {"path": "index.html", "content": "v3"},
                {"path": "css/site.css", "delete": True},
            ],
        },
        headers=alice.headers,
    )
    page = await client.get(f"/s/{snapshot}")
    assert page.text == "v2" and page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"]
    assert (await client.get(f"/s/{snapshot}/css/site.css")).text == "body{}"
    assert (await client.get(f"/s/{live}")).text == "v3"
    assert (await client.get(f"/s/{live}/css/site.css")).status_code == 404
    assert (await client.get(f"/s/{first}")).text == "v1"
    assert (await client.get(f"/s/{first}/css/site.css")).status_code == 404
    assert (await client.get(f"/s/{snapshot}/../../etc/passwd")).status_code == 404
    unpublished = (await client.get(f"{API}/sites/{site['id']}", headers=alice.headers)).json()
    assert unpublished["is_published"] is False
    bad = await share(client, alice, f"sites/{site['id']}", mode="snapshot", version=9)
    assert bad.status_code == 422


async def test_deletes_take_shares_with_them_and_export_keeps_them_without_secrets(
    client: httpx.AsyncClient,
) -> None:
    user = await register_user(client, name="Sharer")
    conversation = await conversation_with(client, user, "bye")
    token = token_of(
        await share(
            client, user, f"conversations/{conversation['id']}", mode="snapshot", password="pw12"
        )
    )
    export = await client.get(f"{API}/users/me/export", headers=user.headers)
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    rows = [json.loads(line) for line in archive.read("collections/shares.jsonl").splitlines()]
    assert len(rows) == 1 and "token_hash" not in rows[0] and "password_hash" not in rows[0]
    assert archive.read("collections/share_snapshots.jsonl")
    fork = await client.post(
        f"{API}/conversations/{conversation['id']}/fork",
        json={"message_id": conversation["messages"][0]["id"]},
        headers=user.headers,
    )
    assert fork.status_code == 201
    mine = (await client.get(f"{API}/shares", headers=user.headers)).json()["items"]
    assert [s["resource_id"] for s in mine] == [conversation["id"]]  # the fork has none
    assert (
        await client.delete(
            f"{API}/conversations/{conversation['id']}", params=PERMANENT, headers=user.headers
        )
    ).status_code == 204
    assert (await client.get(f"/s/{token}")).status_code == 404
    assert (await client.get(f"{API}/shares", headers=user.headers)).json()["items"] == []


async def test_blobs_a_share_can_serve_survive_garbage_collection(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    site = (
        await client.post(
            f"{API}/sites",
            json={"title": "gc", "files": [{"path": "index.html", "content": "first words"}]},
            headers=alice.headers,
        )
    ).json()
    token = token_of(await share(client, alice, f"sites/{site['id']}", mode="snapshot"))
    await client.post(
        f"{API}/sites/{site['id']}/versions",
        json={"base_version": 1, "changes": [{"path": "index.html", "content": "second words"}]},
        headers=alice.headers,
    )
    await run_cleanup(blob_grace=timedelta(0))
    assert (await client.get(f"/s/{token}")).text == "first words"

"""The account: profile, settings, API keys with scopes and limits, export and deletion."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime

import httpx
from fastapi import FastAPI

from documents.rate_limit import RateLimitWindow
from tests.factories import TestUser, make_api_key, register_user
from tests.racing import Racers, needs_isolation


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("GET", "/api/v1/users/me/api-keys"),
        ("GET", "/api/v1/users/me/export"),
    ]:
        response = await client.request(method, path, json={})
        assert response.status_code == 401, path


async def test_patch_me_merges_settings(client: httpx.AsyncClient, alice: TestUser) -> None:
    first = await client.patch(
        "/api/v1/users/me",
        json={"name": "Alice B", "settings": {"theme": "dark", "notifications": {"product": True}}},
        headers=alice.headers,
    )
    assert first.status_code == 200
    second = await client.patch(
        "/api/v1/users/me",
        json={"birthdate": "2012-02-29", "settings": {"language": "de"}},
        headers=alice.headers,
    )
    me = second.json()
    assert me["name"] == "Alice B" and me["birthdate"] == "2012-02-29"
    assert me["settings"]["theme"] == "dark" and me["settings"]["language"] == "de"
    assert me["settings"]["notifications"] == {"email": True, "product": True}
    # As instants: the JSON form drops a whole second's fraction (…56Z vs …56.046000Z).
    assert datetime.fromisoformat(me["updated_at"]) >= datetime.fromisoformat(me["created_at"])


async def test_patch_me_refuses_bad_input(client: httpx.AsyncClient, alice: TestUser) -> None:
    before = (await client.get("/api/v1/users/me", headers=alice.headers)).json()
    for body in (
        {"name": {"$set": "x"}},
        {"settings": {"theme": ["dark"]}},
        {"settings": {"unknown": 1}},
        {"email": "new@example.com"},
        {"roles": ["admin"]},
        {"birthdate": "not a date"},
    ):
        response = await client.patch("/api/v1/users/me", json=body, headers=alice.headers)
        assert response.status_code == 422, body
    after = (await client.get("/api/v1/users/me", headers=alice.headers)).json()
    assert after == before


async def test_api_key_is_shown_once_and_hashed(
    client: httpx.AsyncClient, app: FastAPI, alice: TestUser
) -> None:
    created = await client.post(
        "/api/v1/users/me/api-keys",
        json={"name": "ci", "scopes": ["*"], "rate_limit_per_minute": 100},
        headers=alice.headers,
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(body["prefix"]) and len(key) > 40
    listed = (await client.get("/api/v1/users/me/api-keys", headers=alice.headers)).json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert "key" not in listed["items"][0] and key not in json.dumps(listed)
    from documents.api_key import ApiKey

    stored = await ApiKey.get_pymongo_collection().find_one({"prefix": body["prefix"]})
    assert key not in json.dumps(stored, default=str)
    me = await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["id"] == alice.id
    await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    usage = (await client.get("/api/v1/users/me/api-keys", headers=alice.headers)).json()
    assert usage["items"][0]["usage"]["count"] == 2
    assert usage["items"][0]["usage"]["last_used_at"].endswith("Z")


async def test_api_key_scopes_are_enforced(client: httpx.AsyncClient, alice: TestUser) -> None:
    key = await make_api_key(client, alice, ["conversations:read"])
    account = await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    assert account.status_code == 403
    assert account.headers["content-type"] == "application/problem+json"


async def test_unknown_scope_is_422(client: httpx.AsyncClient, alice: TestUser) -> None:
    for scopes in (["everything"], [], [{"$ne": 1}], "*"):
        response = await client.post(
            "/api/v1/users/me/api-keys", json={"name": "x", "scopes": scopes}, headers=alice.headers
        )
        assert response.status_code == 422, scopes


async def test_revoked_key_is_401(client: httpx.AsyncClient, alice: TestUser) -> None:
    key = await make_api_key(client, alice, ["*"])
    keys = (await client.get("/api/v1/users/me/api-keys", headers=alice.headers)).json()["items"]
    key_id = next(item["id"] for item in keys if key.startswith(item["prefix"]))
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": key})).status_code == 200
    revoked = await client.delete(f"/api/v1/users/me/api-keys/{key_id}", headers=alice.headers)
    assert revoked.status_code == 204
    after = await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    assert after.status_code == 401 and after.headers["www-authenticate"]
    again = await client.delete(f"/api/v1/users/me/api-keys/{key_id}", headers=alice.headers)
    assert again.status_code == 404
    bogus = await client.get("/api/v1/users/me", headers={"X-API-Key": "gsk_nothing_here"})
    assert bogus.status_code == 401


async def test_rate_limit_per_key_gives_429_with_retry_after(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    key = await make_api_key(client, alice, ["*"], rate_limit=3)
    responses = [await client.get("/api/v1/users/me", headers={"X-API-Key": key}) for _ in range(7)]
    statuses = [r.status_code for r in responses]
    # Seven calls span at most two one-minute windows, so at most six can pass.
    assert statuses[0] == 200 and statuses.count(200) <= 6
    limited = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    assert limited.headers["content-type"] == "application/problem+json"


async def test_export_is_a_zip_of_everything_owned(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    await make_api_key(client, alice, ["files:read"])
    response = await client.get("/api/v1/users/me/export", headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert "user.json" in names and "collections/api_keys.jsonl" in names
    profile = json.loads(archive.read("user.json"))
    assert profile["email"] == alice.email and "password_hash" not in profile
    keys = archive.read("collections/api_keys.jsonl").decode()
    assert "files:read" in keys and "key_hash" not in keys


async def test_delete_account_needs_the_password_and_removes_everything(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await register_user(client, name="Leaving")
    key = await make_api_key(client, user, ["*"])
    wrong = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": "not it at all"}, headers=user.headers
    )
    assert wrong.status_code == 401
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    # The process now remembers the key's owner: the key must still stop working below.
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": key})).status_code == 200
    gone = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": user.password}, headers=user.headers
    )
    assert gone.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": key})).status_code == 401
    from bson import ObjectId

    from documents import OWNED_DOCUMENTS

    for model in OWNED_DOCUMENTS:
        remaining = await model.get_pymongo_collection().count_documents(
            {"owner_id": ObjectId(user.id)}
        )
        assert remaining == 0, model.__name__


async def _key_windows(key: str, client: httpx.AsyncClient, alice: TestUser) -> list[dict]:
    keys = (await client.get("/api/v1/users/me/api-keys", headers=alice.headers)).json()["items"]
    key_id = next(k["id"] for k in keys if key.startswith(k["prefix"]))
    windows = RateLimitWindow.find({"key": f"api_key:{key_id}"})
    return [window.model_dump(by_alias=True) for window in await windows.to_list()]


async def test_first_requests_of_a_rate_limit_window_race_without_errors(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """The window's counter is created by an insert that may lose the race (never a racing
    `$inc` upsert): 20 first requests over separate connections, no 5xx, one document per
    window."""
    key = await make_api_key(client, alice, ["*"], rate_limit=1000)
    responses = await racers.race(
        [lambda http: http.get("/api/v1/users/me", headers={"X-API-Key": key})] * 20
    )
    assert [r.status_code for r in responses] == [200] * 20
    windows = await _key_windows(key, client, alice)
    assert 1 <= len(windows) <= 2  # the race may straddle a minute
    assert len({w["window"] for w in windows}) == len(windows)


@needs_isolation
async def test_rate_limit_counts_every_concurrent_request(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """30 requests at once over separate connections: every `$inc` of the shared window lands,
    which needs an engine that isolates updates of one document."""
    key = await make_api_key(client, alice, ["*"], rate_limit=1000)
    responses = await racers.race(
        [lambda http: http.get("/api/v1/users/me", headers={"X-API-Key": key})] * 30
    )
    assert [r.status_code for r in responses] == [200] * 30
    assert sum(w["count"] for w in await _key_windows(key, client, alice)) == 30

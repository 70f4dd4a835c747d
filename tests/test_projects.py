"""Projects: status, visibility, and the public-read rule (read yes, write never)."""

from __future__ import annotations

import httpx
from bson import ObjectId

from tests.factories import TestUser

API = "/api/v1/projects"


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(API)).status_code == 401
    assert (await client.get(f"{API}/{ObjectId()}")).status_code == 401


async def test_crud_and_filters(client: httpx.AsyncClient, alice: TestUser) -> None:
    created = await client.post(
        API,
        json={"name": "Shop", "status": "active", "config": {"stack": "vue"}},
        headers=alice.headers,
    )
    assert created.status_code == 201
    project = created.json()
    assert project["visibility"] == "private" and project["is_owner"] is True
    patched = await client.patch(
        f"{API}/{project['id']}", json={"status": "completed"}, headers=alice.headers
    )
    assert patched.json()["status"] == "completed" and patched.json()["name"] == "Shop"
    listed = await client.get(API, params={"status": "completed"}, headers=alice.headers)
    assert project["id"] in {p["id"] for p in listed.json()["items"]}
    for body in (
        {"status": "done"},
        {"visibility": "everyone"},
        {"name": None},
        {"config": {"$x": 1}},
    ):
        assert (
            await client.patch(f"{API}/{project['id']}", json=body, headers=alice.headers)
        ).status_code == 422
    assert (await client.delete(f"{API}/{project['id']}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"{API}/{project['id']}", headers=alice.headers)).status_code == 404


async def test_public_projects_are_readable_by_everyone_and_writable_only_by_the_owner(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    public = (
        await client.post(API, json={"name": "Open", "visibility": "public"}, headers=alice.headers)
    ).json()
    private = (await client.post(API, json={"name": "Closed"}, headers=alice.headers)).json()
    seen = await client.get(f"{API}/{public['id']}", headers=bob.headers)
    assert seen.status_code == 200 and seen.json()["is_owner"] is False
    assert (await client.get(f"{API}/{private['id']}", headers=bob.headers)).status_code == 404
    assert (
        await client.patch(f"{API}/{public['id']}", json={"name": "Mine"}, headers=bob.headers)
    ).status_code == 404
    assert (await client.delete(f"{API}/{public['id']}", headers=bob.headers)).status_code == 404
    still = await client.get(f"{API}/{public['id']}", headers=alice.headers)
    assert still.json()["name"] == "Open"
    own_list = {p["id"] for p in (await client.get(API, headers=bob.headers)).json()["items"]}
    assert public["id"] not in own_list
    with_public = await client.get(
        API, params={"include_public": "true", "limit": 100}, headers=bob.headers
    )
    ids = {p["id"] for p in with_public.json()["items"]}
    assert public["id"] in ids and private["id"] not in ids
    # A public project still cannot be linked by someone else.
    linked = await client.post(
        "/api/v1/conversations", json={"project_id": public["id"]}, headers=bob.headers
    )
    assert linked.status_code == 422

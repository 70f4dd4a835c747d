"""Generations: every transition and every refusal of the state machine, and usage once."""

from __future__ import annotations

import httpx
import pytest
from bson import ObjectId

from tests.factories import TestUser
from tests.racing import Racers

API = "/api/v1/generations"


async def new_generation(client: httpx.AsyncClient, user: TestUser, **body) -> dict:
    response = await client.post(
        API, json={"kind": "website", "prompt": "a bakery", **body}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def move(client: httpx.AsyncClient, user: TestUser, gid: str, **body) -> httpx.Response:
    return await client.patch(f"{API}/{gid}", json=body, headers=user.headers)


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(API)).status_code == 401
    assert (
        await client.patch(f"{API}/{ObjectId()}", json={"status": "running"})
    ).status_code == 401


async def test_happy_path_with_usage_recorded_once(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """Retries of the final PATCH race over separate connections; the usage event's unique
    `request_id` (not a shared connection) keeps it counted once."""
    generation = await new_generation(client, alice, model="gpt-x")
    assert generation["status"] == "queued" and generation["started_at"] is None
    running = await move(client, alice, generation["id"], status="running")
    assert running.status_code == 200 and running.json()["started_at"]
    body = {
        "status": "succeeded",
        "output": {"code": "<html></html>"},
        "usage": {
            "provider": "openai",
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "cost_usd": 0.0123,
        },
        "duration_ms": 4200,
    }
    done = await move(client, alice, generation["id"], **body)
    assert done.status_code == 200
    result = done.json()
    assert (
        result["status"] == "succeeded" and result["completed_at"] and result["duration_ms"] == 4200
    )
    assert result["usage"]["cost_micros"] == 12300 and result["usage"]["cost_usd"] == 0.0123
    retried = await racers.race([lambda http: move(http, alice, generation["id"], **body)] * 5)
    assert {r.status_code for r in retried} == {200}
    events = (
        await client.get("/api/v1/usage", params={"limit": 100}, headers=alice.headers)
    ).json()["items"]
    mine = [e for e in events if e["generation_id"] == generation["id"]]
    assert len(mine) == 1
    assert mine[0]["cost_micros"] == 12300 and mine[0]["total_tokens"] == 150
    assert mine[0]["source"] == "generation" and mine[0]["day"] == result["completed_at"][:10]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "succeeded"),
        ([], "failed"),
        ([], "queued"),
        (["running"], "queued"),
        (["running", "succeeded"], "running"),
        (["running", "succeeded"], "failed"),
        (["running", "failed"], "succeeded"),
        (["running", "failed"], "running"),
    ],
)
async def test_refused_transitions_are_409(
    client: httpx.AsyncClient, alice: TestUser, path: list[str], target: str
) -> None:
    generation = await new_generation(client, alice)
    for step in path:
        assert (await move(client, alice, generation["id"], status=step)).status_code == 200
    before = (await client.get(f"{API}/{generation['id']}", headers=alice.headers)).json()
    refused = await move(client, alice, generation["id"], status=target)
    assert refused.status_code == 409
    after = (await client.get(f"{API}/{generation['id']}", headers=alice.headers)).json()
    assert after == before


async def test_failure_computes_duration_and_keeps_the_error(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    generation = await new_generation(client, alice)
    await move(client, alice, generation["id"], status="running")
    failed = (
        await move(client, alice, generation["id"], status="failed", error="model timeout")
    ).json()
    assert failed["error"] == "model timeout" and failed["duration_ms"] >= 0


async def test_links_and_filters(client: httpx.AsyncClient, alice: TestUser, bob: TestUser) -> None:
    foreign_file = (
        await client.post("/api/v1/files", files={"file": ("a", b"bob")}, headers=bob.headers)
    ).json()
    for body in (
        {"project_id": str(ObjectId())},
        {"message_id": str(ObjectId())},
        {"kind": "video"},
        {"prompt": ""},
    ):
        response = await client.post(
            API, json={"kind": "ui", "prompt": "x", **body}, headers=alice.headers
        )
        assert response.status_code == 422, body
    generation = await new_generation(client, alice, kind="image")
    await move(client, alice, generation["id"], status="running")
    bad = await move(
        client,
        alice,
        generation["id"],
        status="succeeded",
        output={"file_ids": [foreign_file["id"]]},
    )
    assert bad.status_code == 422
    listed = await client.get(
        API, params={"kind": "image", "status": "running"}, headers=alice.headers
    )
    assert generation["id"] in {g["id"] for g in listed.json()["items"]}
    assert (
        await client.get(API, params={"status": "nope"}, headers=alice.headers)
    ).status_code == 422

"""Usage events: idempotent by request_id, exact money."""

from __future__ import annotations

import httpx

from tests.factories import TestUser, register_user
from tests.racing import Racers

API = "/api/v1/usage"
EVENT = {
    "provider": "openai",
    "model": "gpt-x",
    "operation": "chat",
    "prompt_tokens": 10,
    "completion_tokens": 5,
}


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.post(API, json=EVENT)).status_code == 401


async def test_request_id_is_idempotent(client: httpx.AsyncClient, alice: TestUser) -> None:
    first = await client.post(
        API, json={**EVENT, "request_id": "req-1", "cost_usd": 0.5}, headers=alice.headers
    )
    assert first.status_code == 201
    again = await client.post(
        API, json={**EVENT, "request_id": "req-1", "cost_usd": 9}, headers=alice.headers
    )
    assert again.status_code == 200 and again.json() == first.json()
    generated = (await client.post(API, json=EVENT, headers=alice.headers)).json()
    assert (
        generated["request_id"] and generated["total_tokens"] == 15 and generated["cost_usd"] == 0
    )


async def test_money_is_exact(client: httpx.AsyncClient) -> None:
    user = await register_user(client, name="Penny")
    # 100 floats of 0.000001 add up to 9.999999999999982e-05: the sum must not be a float sum.
    for _ in range(100):
        response = await client.post(
            API, json={**EVENT, "cost_usd": 0.000001}, headers=user.headers
        )
        assert response.status_code == 201
    report = await client.get(
        "/api/v1/analytics/usage", params={"group_by": "model"}, headers=user.headers
    )
    totals = report.json()["totals"]
    assert totals["cost_usd"] == 0.0001 and totals["cost_micros"] == 100 and totals["calls"] == 100


async def test_bad_events_are_422(client: httpx.AsyncClient, alice: TestUser) -> None:
    for body in (
        {**EVENT, "cost_usd": -1},
        {**EVENT, "cost_usd": "NaN"},
        {**EVENT, "prompt_tokens": -5},
        {**EVENT, "status": "meh"},
        {**EVENT, "model": {"$ne": 1}},
        {**EVENT, "generation_id": "65a0f0f0f0f0f0f0f0f0f0f0"},
        {"provider": "x"},
    ):
        assert (await client.post(API, json=body, headers=alice.headers)).status_code == 422, body


async def test_concurrent_reports_of_one_request_id_record_one_event(
    client: httpx.AsyncClient, racers: Racers
) -> None:
    """Twenty reports of one `request_id` at once over separate connections: one 201, nineteen
    200 answering that same event, one row in the ledger."""
    user = await register_user(client, name="Gateway")
    body = {**EVENT, "request_id": "req-race", "cost_usd": 0.25}
    responses = await racers.race(
        [lambda http: http.post(API, json=body, headers=user.headers)] * 20
    )
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    page = (await client.get(API, params={"limit": 100}, headers=user.headers)).json()
    assert [e["request_id"] for e in page["items"]] == ["req-race"]

"""Spend budgets: reservations that never pass the limit under concurrency, settlement by usage,
release, expiry, API-key caps, and the caller's limits."""

from __future__ import annotations

import asyncio

import httpx
from bson import ObjectId

from app.observability import command_recorder
from tests.factories import TestUser, make_api_key, register_user
from tests.racing import needs_isolation

RESERVE = "/api/v1/usage/reservations"
LIMITS = "/api/v1/users/me/limits"
EVENT = {"provider": "openai", "model": "gpt-x", "operation": "chat"}


async def set_limit(
    client: httpx.AsyncClient, admin: TestUser, user: TestUser, usd: str | None, storage=None
) -> dict:
    response = await client.put(
        f"/api/v1/admin/users/{user.id}/limits",
        json={"monthly_spend_usd": usd, "storage_bytes": storage},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_anonymous_is_401_and_others_reservations_are_404(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    assert (await client.post(RESERVE, json={"amount_usd": "1"})).status_code == 401
    assert (await client.get(LIMITS)).status_code == 401
    held = await client.post(RESERVE, json={"amount_usd": "1"}, headers=alice.headers)
    assert held.status_code == 201, held.text
    gone = await client.delete(f"{RESERVE}/{held.json()['id']}", headers=bob.headers)
    assert gone.status_code == 404
    settle = await client.post(
        "/api/v1/usage",
        json={**EVENT, "cost_usd": "0.5", "reservation_id": held.json()["id"]},
        headers=bob.headers,
    )
    assert settle.status_code == 422
    assert (await client.get(LIMITS, headers=bob.headers)).json()["spend"][
        "spent_usd"
    ] == "0.000000"
    assert (
        await client.put(
            f"/api/v1/admin/users/{bob.id}/limits",
            json={"monthly_spend_usd": "1", "storage_bytes": None},
            headers=alice.headers,
        )
    ).status_code == 403


async def test_a_hundred_reservations_against_ten_dollars(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    """Through the in-process app: the request logic (hold, give back, 402 with the remaining
    amount). On the embedded engine its one connection orders the guarded updates; the race
    across processes and pools is `test_a_hundred_racing_reservations_against_ten_dollars`."""
    await _full_scenario([client], client, admin)


@needs_isolation
async def test_a_hundred_racing_reservations_against_ten_dollars(
    racers, client: httpx.AsyncClient, admin: TestUser
) -> None:
    await _full_scenario(racers.clients, client, admin)


async def _full_scenario(
    clients: list[httpx.AsyncClient], client: httpx.AsyncClient, admin
) -> None:
    user = await register_user(client, name="Spender")
    await set_limit(client, admin, user, "10")
    ids: list[str] = []

    async def one(i: int) -> httpx.Response:
        c = clients[i % len(clients)]
        response = await c.post(RESERVE, json={"amount_usd": "1"}, headers=user.headers)
        if response.status_code == 201:
            ids.append(response.json()["id"])
        return response

    responses = await asyncio.gather(*(one(i) for i in range(100)))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 10 and codes.count(402) == 90, codes
    refused = next(r for r in responses if r.status_code == 402)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("budget-exceeded")
    assert refused.json()["remaining_usd"] == "0.000000"

    for rid in ids[:5]:
        settled = await client.post(
            "/api/v1/usage",
            json={**EVENT, "cost_usd": "0.5", "reservation_id": rid},
            headers=user.headers,
        )
        assert settled.status_code == 201 and settled.json()["overrun"] is False
    for rid in ids[5:]:
        assert (await client.delete(f"{RESERVE}/{rid}", headers=user.headers)).status_code == 204
    again = await client.delete(f"{RESERVE}/{ids[5]}", headers=user.headers)
    assert again.status_code == 404
    spend = (await client.get(LIMITS, headers=user.headers)).json()["spend"]
    assert (spend["spent_usd"], spend["reserved_usd"], spend["remaining_usd"]) == (
        "2.500000",
        "0.000000",
        "7.500000",
    )

    key = await make_api_key(client, user, ["usage:write", "usage:read"])
    key_id = (await client.get("/api/v1/users/me/api-keys", headers=user.headers)).json()["items"][
        0
    ]["id"]
    capped = await client.patch(
        f"/api/v1/users/me/api-keys/{key_id}",
        json={"monthly_spend_usd": "3"},
        headers=user.headers,
    )
    assert capped.status_code == 200 and capped.json()["monthly_spend_usd"] == "3.000000"

    async def through_key(i: int) -> int:
        c = clients[i % len(clients)]
        headers = {"X-API-Key": key}
        return (await c.post(RESERVE, json={"amount_usd": "1"}, headers=headers)).status_code

    key_codes = await asyncio.gather(*(through_key(i) for i in range(10)))
    assert key_codes.count(201) == 3 and key_codes.count(402) == 7, key_codes
    limits = (await client.get(LIMITS, headers=user.headers)).json()
    assert limits["spend"]["reserved_usd"] == "3.000000"
    assert limits["spend"]["remaining_usd"] == "4.500000"
    assert [(k["limit_usd"], k["reserved_usd"]) for k in limits["keys"]] == [
        ("3.000000", "3.000000")
    ]


async def test_expired_reservations_stop_counting(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    user = await register_user(client, name="Expiring")
    await set_limit(client, admin, user, "5")
    held = await client.post(RESERVE, json={"amount_usd": "5", "ttl_s": 1}, headers=user.headers)
    assert held.status_code == 201
    assert (
        await client.post(RESERVE, json={"amount_usd": "1"}, headers=user.headers)
    ).status_code == 402
    await asyncio.sleep(2.1)
    assert (
        await client.post(RESERVE, json={"amount_usd": "5"}, headers=user.headers)
    ).status_code == 201
    late = await client.post(
        "/api/v1/usage",
        json={**EVENT, "cost_usd": "1", "reservation_id": held.json()["id"]},
        headers=user.headers,
    )
    assert late.status_code == 422  # the sweep released it


async def test_usage_without_reservation_counts_and_overruns_are_flagged(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    user = await register_user(client, name="Overrun")
    await set_limit(client, admin, user, "2")
    held = (await client.post(RESERVE, json={"amount_usd": "1"}, headers=user.headers)).json()
    assert held["amount_usd"] == "1.000000"
    settled = await client.post(
        "/api/v1/usage",
        json={**EVENT, "cost_usd": "1.25", "reservation_id": held["id"]},
        headers=user.headers,
    )
    assert settled.json()["overrun"] is True and settled.json()["cost_usd"] == 1.25
    await client.post("/api/v1/usage", json={**EVENT, "cost_usd": "0.75"}, headers=user.headers)
    spend = (await client.get(LIMITS, headers=user.headers)).json()["spend"]
    assert (spend["spent_usd"], spend["remaining_usd"]) == ("2.000000", "0.000000")
    refused = await client.post(RESERVE, json={"amount_usd": "0.01"}, headers=user.headers)
    assert refused.status_code == 402
    batch = await client.post(
        "/api/v1/usage/batch",
        json={"events": [{**EVENT, "cost_usd": "1", "reservation_id": str(ObjectId())}]},
        headers=user.headers,
    )
    assert batch.status_code == 422
    assert batch.json()["errors"][0]["loc"][:4] == ["body", "events", "0", "reservation_id"]


async def test_a_generation_holds_its_budget_until_its_final_patch(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    user = await register_user(client, name="Generator")
    await set_limit(client, admin, user, "3")
    api = "/api/v1/generations"
    first = await client.post(
        api, json={"kind": "ui", "prompt": "p", "budget_usd": "2"}, headers=user.headers
    )
    assert first.status_code == 201 and first.json()["reservation_id"]
    second = await client.post(
        api, json={"kind": "ui", "prompt": "p", "budget_usd": "2"}, headers=user.headers
    )
    assert second.status_code == 402
    gid = first.json()["id"]
    await client.patch(f"{api}/{gid}", json={"status": "running"}, headers=user.headers)
    done = {"status": "succeeded", "usage": {"provider": "openai", "cost_usd": "1.5"}}
    for _ in range(2):  # a retried final PATCH settles once
        assert (
            await client.patch(f"{api}/{gid}", json=done, headers=user.headers)
        ).status_code == 200
    spend = (await client.get(LIMITS, headers=user.headers)).json()["spend"]
    assert (spend["spent_usd"], spend["reserved_usd"]) == ("1.500000", "0.000000")
    failing = await client.post(
        api, json={"kind": "ui", "prompt": "p", "budget_usd": "1.5"}, headers=user.headers
    )
    fid = failing.json()["id"]
    await client.patch(f"{api}/{fid}", json={"status": "running"}, headers=user.headers)
    await client.patch(f"{api}/{fid}", json={"status": "failed"}, headers=user.headers)
    spend = (await client.get(LIMITS, headers=user.headers)).json()["spend"]
    assert (spend["reserved_usd"], spend["remaining_usd"]) == ("0.000000", "1.500000")


async def test_a_reservation_costs_three_commands_once_the_month_has_a_budget(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    costs = []
    for _ in range(2):
        with command_recorder.capture() as commands:
            held = await client.post(RESERVE, json={"amount_usd": "0.01"}, headers=alice.headers)
        assert held.status_code == 201, held.text
        costs.append(commands)
    # The month's first hold finds no budget, creates it and holds again.
    assert costs[0] == ["find", "update", "find", "insert", "update", "insert"]
    # Then: the user, one guarded `$inc`, the reservation.
    assert costs[1] == ["find", "update", "insert"]

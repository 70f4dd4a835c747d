"""Webhooks against a real HTTP receiver on loopback: signatures verified with the Standard
Webhooks reference library, retries with backoff and their log, thresholds once each, rotation
with an overlap, refused targets, disabling and re-enabling, and no event lost to `kill -9`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.database import get_db
from app.jobs.cleanup import run_cleanup
from app.settings import Settings
from app.webhooks.events import MESSAGE_APPENDED
from app.webhooks.targets import TargetRefused, check_addresses
from documents.base import utcnow
from tests.factories import TestUser
from tests.racing import Racers, needs_isolation
from tests.receivers import Receiver, start_receiver
from tests.servers import start_server

API = "/api/v1"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found, server, task = await start_receiver()
    yield found
    server.should_exit = True
    await task


async def _endpoint(client: httpx.AsyncClient, user: TestUser, url: str, events: list[str]) -> dict:
    made = await client.post(
        f"{API}/webhooks", json={"url": url, "events": events}, headers=user.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["secret"].startswith("whsec_")
    return made.json()


async def _finished_generation(
    client: httpx.AsyncClient, user: TestUser, status: str = "succeeded"
) -> str:
    made = await client.post(
        f"{API}/generations", json={"kind": "ui", "prompt": "a login form"}, headers=user.headers
    )
    generation_id = made.json()["id"]
    for step in ("running", status):
        moved = await client.patch(
            f"{API}/generations/{generation_id}", json={"status": step}, headers=user.headers
        )
        assert moved.status_code == 200, moved.text
    return generation_id


async def _settled_log(client: httpx.AsyncClient, user: TestUser, endpoint_id: str) -> list[dict]:
    """The endpoint's delivery log once nothing in it is pending."""
    for _ in range(100):
        log = await client.get(f"{API}/webhooks/{endpoint_id}/deliveries", headers=user.headers)
        items = log.json()["items"]
        if items and all(d["status"] != "pending" for d in items):
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"still pending: {items}")


def _verified(secret: str, received) -> dict:  # type: ignore[no-untyped-def]
    return Webhook(secret).verify(received.body, received.headers)


async def test_a_finished_generation_is_delivered_signed(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    shown = await client.get(f"{API}/webhooks/{endpoint['id']}", headers=alice.headers)
    assert "secret" not in shown.json()  # shown once
    generation_id = await _finished_generation(client, alice)
    [received] = await receiver.wait_for(1)
    event = _verified(endpoint["secret"], received)
    assert event["type"] == "generation.succeeded"
    assert event["data"]["generation_id"] == generation_id
    assert event["data"]["status"] == "succeeded"
    assert received.headers["webhook-id"] == event["id"] == f"generation:{generation_id}:succeeded"
    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        Webhook("whsec_" + "A" * 44).verify(received.body, received.headers)
    [delivery] = await _settled_log(client, alice, endpoint["id"])
    assert delivery["status"] == "delivered" and delivery["event_id"] == event["id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]


async def test_a_failing_receiver_gets_it_again_with_backoff(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.failed"])
    receiver.answers.extend([500, 503])
    await _finished_generation(client, alice, "failed")
    first, second, third = await receiver.wait_for(3)
    ids = {r.headers["webhook-id"] for r in (first, second, third)}
    assert len(ids) == 1  # the same event, at least once
    for received in (first, second, third):
        assert _verified(endpoint["secret"], received)["type"] == "generation.failed"
    [delivery] = await _settled_log(client, alice, endpoint["id"])
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert all(a["duration_ms"] >= 0 for a in attempts)
    # Compared as times: a whole second is written without a fraction ("…27Z" before "…27.15Z").
    first_at, second_at, third_at = (datetime.fromisoformat(a["at"]) for a in attempts)
    assert first_at < second_at < third_at
    # Re-sent on request: the same id again.
    retried = await client.post(
        f"{API}/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry", headers=alice.headers
    )
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    again = await receiver.wait_for(4)
    assert again[3].headers["webhook-id"] == first.headers["webhook-id"]


async def test_events_go_out_in_order_per_endpoint(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    receiver.answers.extend([500, 500])  # the first event is retried before the next goes
    ids = [await _finished_generation(client, alice) for _ in range(4)]
    await receiver.wait_for(6)
    received = await receiver.wait_for_unique(4)
    delivered = [_verified(endpoint["secret"], r)["data"]["generation_id"] for r in received]
    assert delivered == ids


async def test_ping_rotation_and_overlap(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    ping = await client.post(f"{API}/webhooks/{endpoint['id']}/test", headers=alice.headers)
    assert ping.status_code == 202
    [received] = await receiver.wait_for(1)
    assert _verified(endpoint["secret"], received)["type"] == "webhook.ping"
    rotated = await client.post(
        f"{API}/webhooks/{endpoint['id']}/rotate-secret", headers=alice.headers
    )
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"] and rotated.json()["previous_valid_until"]
    await client.post(f"{API}/webhooks/{endpoint['id']}/test", headers=alice.headers)
    received = (await receiver.wait_for(2))[1]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert _verified(new_secret, received)["type"] == "webhook.ping"
    assert _verified(endpoint["secret"], received)["type"] == "webhook.ping"  # overlap


async def test_budget_thresholds_fire_once_each(
    client: httpx.AsyncClient, alice: TestUser, admin: TestUser, receiver: Receiver
):
    await _endpoint(client, alice, receiver.url, ["budget.threshold"])
    limits = await client.put(
        f"{API}/admin/users/{alice.id}/limits",
        json={"monthly_spend_usd": "1", "storage_bytes": None},
        headers=admin.headers,
    )
    assert limits.status_code == 200, limits.text
    held = []
    for _ in range(10):  # $0.10 each: 50 % at the 5th, 80 % at the 8th, 100 % at the 10th
        made = await client.post(
            f"{API}/usage/reservations", json={"amount_usd": "0.10"}, headers=alice.headers
        )
        assert made.status_code == 201
        held.append(made.json()["id"])
    for reservation_id in held:  # down and up again: still once per month
        await client.delete(f"{API}/usage/reservations/{reservation_id}", headers=alice.headers)
    for _ in range(10):
        await client.post(
            f"{API}/usage/reservations", json={"amount_usd": "0.10"}, headers=alice.headers
        )
    await receiver.wait_for_unique(3)
    await asyncio.sleep(1.0)  # nothing more comes
    thresholds = sorted(json.loads(r.body)["data"]["threshold_percent"] for r in receiver.unique())
    assert thresholds == [50, 80, 100]


@needs_isolation
async def test_thresholds_fire_once_under_100_concurrent_reservations(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser, admin: TestUser, receiver: Receiver
):
    await _endpoint(client, alice, receiver.url, ["budget.threshold"])
    await client.put(
        f"{API}/admin/users/{alice.id}/limits",
        json={"monthly_spend_usd": "1", "storage_bytes": None},
        headers=admin.headers,
    )

    async def reserve(http: httpx.AsyncClient) -> int:
        answer = await http.post(
            f"{API}/usage/reservations", json={"amount_usd": "0.01"}, headers=alice.headers
        )
        return answer.status_code

    codes = await racers.race([reserve] * 100)
    assert codes.count(201) == 100
    await receiver.wait_for_unique(3)
    await asyncio.sleep(1.0)
    thresholds = sorted(json.loads(r.body)["data"]["threshold_percent"] for r in receiver.unique())
    assert thresholds == [50, 80, 100]


async def test_a_disabled_endpoint_keeps_its_events_until_enabled(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    off = await client.patch(
        f"{API}/webhooks/{endpoint['id']}", json={"enabled": False}, headers=alice.headers
    )
    assert off.json()["enabled"] is False
    generation_id = await _finished_generation(client, alice)
    await asyncio.sleep(1.0)
    assert receiver.received == []
    on = await client.patch(
        f"{API}/webhooks/{endpoint['id']}", json={"enabled": True}, headers=alice.headers
    )
    assert on.json()["enabled"] is True
    [received] = await receiver.wait_for(1)
    assert _verified(endpoint["secret"], received)["data"]["generation_id"] == generation_id


async def test_an_endpoint_failing_for_a_day_is_disabled(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    await get_db().webhook_endpoints.update_one(
        {"_id": ObjectId(endpoint["id"])},
        {"$set": {"failing_since": utcnow() - timedelta(hours=25)}},
    )
    receiver.answers.extend([500] * 5)
    await _finished_generation(client, alice)
    await receiver.wait_for(1)
    for _ in range(50):
        shown = (await client.get(f"{API}/webhooks/{endpoint['id']}", headers=alice.headers)).json()
        if not shown["enabled"]:
            break
        await asyncio.sleep(0.1)
    assert shown["enabled"] is False and "failed" in shown["disabled_reason"]


async def test_imports_shares_storage_and_messages_have_their_events(
    client: httpx.AsyncClient, alice: TestUser, admin: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(
        client,
        alice,
        receiver.url,
        [
            "import.finished",
            "share.exhausted",
            "storage.threshold",
            "conversation.message_appended",
        ],
    )
    export = b'[{"uuid": "c1", "name": "imported", "chat_messages": []}]'
    started = await client.post(
        f"{API}/imports", files={"file": ("c.json", export)}, headers=alice.headers
    )
    assert started.status_code == 202, started.text
    conversation = await client.post(
        f"{API}/conversations", json={"title": "shared"}, headers=alice.headers
    )
    conversation_id = conversation.json()["id"]
    sent = await client.post(
        f"{API}/conversations/{conversation_id}/messages",
        json={"role": "user", "content": "hello"},
        headers=alice.headers,
    )
    share = await client.post(
        f"{API}/conversations/{conversation_id}/shares",
        json={"mode": "live", "max_views": 2},
        headers=alice.headers,
    )
    token = share.json()["url"].rsplit("/", 1)[1]
    for _ in range(3):
        await client.get(f"/s/{token}")
    await client.put(
        f"{API}/admin/users/{alice.id}/limits",
        json={"monthly_spend_usd": None, "storage_bytes": 1000},
        headers=admin.headers,
    )
    await client.post(
        f"{API}/files", files={"file": ("a.txt", b"x" * 850, "text/plain")}, headers=alice.headers
    )
    wanted = {"import.finished", "share.exhausted", "storage.threshold", MESSAGE_APPENDED}
    for _ in range(200):
        types = [json.loads(r.body)["type"] for r in receiver.unique()]
        if wanted <= set(types):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # and nothing more
    events: dict[str, list[dict]] = {}
    for r in receiver.unique():
        event = _verified(endpoint["secret"], r)
        events.setdefault(event["type"], []).append(event["data"])
    assert sorted(events) == sorted(wanted), events
    assert len(events["import.finished"]) == 1
    assert events["import.finished"][0]["import_id"] == started.json()["id"]
    assert events["import.finished"][0]["status"] == "done"
    assert [e["message_id"] for e in events[MESSAGE_APPENDED]] == [sent.json()["id"]]
    assert [e["share_id"] for e in events["share.exhausted"]] == [share.json()["id"]]
    assert [e["threshold_percent"] for e in events["storage.threshold"]] == [80]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http://user:secret@example.com/hook",
        "http://example.com:99999/hook",
        "not a url",
    ],
)
async def test_bad_targets_are_422(client: httpx.AsyncClient, alice: TestUser, url: str):
    made = await client.post(
        f"{API}/webhooks",
        json={"url": url, "events": ["generation.succeeded"]},
        headers=alice.headers,
    )
    assert made.status_code == 422, made.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://192.168.0.10/hook",
    ],
)
async def test_internal_addresses_are_refused_in_production(url: str):
    with pytest.raises(TargetRefused):
        await check_addresses(url, allow_private=False)
    await check_addresses(url, allow_private=True)  # development and tests


async def test_bad_bodies_and_foreign_ids(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser, receiver: Receiver
):
    for body in (
        {"url": receiver.url, "events": []},
        {"url": receiver.url, "events": ["everything"]},
        {"url": receiver.url, "events": [{"$ne": 1}]},
        {"url": {"$gt": ""}, "events": ["generation.succeeded"]},
        {"url": receiver.url, "events": ["generation.succeeded"], "all_users": "yes"},
    ):
        answer = await client.post(f"{API}/webhooks", json=body, headers=alice.headers)
        assert answer.status_code == 422, (body, answer.text)
    everyone = await client.post(
        f"{API}/webhooks",
        json={"url": receiver.url, "events": ["generation.succeeded"], "all_users": True},
        headers=alice.headers,
    )
    assert everyone.status_code == 403
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    for method, path in (
        ("GET", f"/webhooks/{endpoint['id']}"),
        ("PATCH", f"/webhooks/{endpoint['id']}"),
        ("POST", f"/webhooks/{endpoint['id']}/test"),
        ("GET", f"/webhooks/{endpoint['id']}/deliveries"),
    ):
        answer = await client.request(
            method, f"{API}{path}", json={} if method == "PATCH" else None, headers=bob.headers
        )
        assert answer.status_code == 404, (method, path)
    anonymous = await client.get(f"{API}/webhooks")
    assert anonymous.status_code == 401


async def test_an_admin_endpoint_receives_every_users_events(
    client: httpx.AsyncClient, alice: TestUser, admin: TestUser, receiver: Receiver
):
    made = await client.post(
        f"{API}/webhooks",
        json={"url": receiver.url, "events": ["generation.succeeded"], "all_users": True},
        headers=admin.headers,
    )
    assert made.status_code == 201
    generation_id = await _finished_generation(client, alice)
    [received] = await receiver.wait_for(1)
    assert _verified(made.json()["secret"], received)["data"]["generation_id"] == generation_id


async def test_kill_9_loses_no_event(settings: Settings, app: FastAPI, receiver: Receiver) -> None:
    """Generations finished while the app is killed at random moments, its dispatcher off:
    some kills land between a final PATCH's write and its event's record (the generation then
    owes its event: `pending_events`). After a restart with the dispatcher on, every generation
    that finished — acknowledged or not — has its event delivered, each under its own id."""
    headers: dict[str, str] = {}
    owed_seen = 0
    for round_ in range(8):
        served = await start_server(settings, WEBHOOK_DISPATCH="false")
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
            if not headers:
                email = "kill9-webhooks@example.com"
                await http.post(
                    f"{API}/auth/register", json={"email": email, "password": "kill-9-pass"}
                )
                token = await http.post(
                    f"{API}/auth/token", data={"username": email, "password": "kill-9-pass"}
                )
                headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                me = await http.get(f"{API}/users/me", headers=headers)
                owner = ObjectId(me.json()["id"])
                made = await http.post(
                    f"{API}/webhooks",
                    json={"url": receiver.url, "events": ["generation.succeeded"]},
                    headers=headers,
                )
                secret = made.json()["secret"]

            async def finish(n: int, headers: dict[str, str] = headers) -> None:
                made = await http.post(
                    f"{API}/generations", json={"kind": "ui", "prompt": f"p{n}"}, headers=headers
                )
                gid = made.json()["id"]
                await http.patch(
                    f"{API}/generations/{gid}", json={"status": "running"}, headers=headers
                )
                await http.patch(
                    f"{API}/generations/{gid}", json={"status": "succeeded"}, headers=headers
                )

            tasks = [asyncio.create_task(finish(n)) for n in range(10)]
            await asyncio.sleep(0.25 + 0.1 * round_)
            os.kill(served.process.pid, signal.SIGKILL)
            await served.process.wait()
            await asyncio.gather(*tasks, return_exceptions=True)
        owed_seen += await get_db().generations.count_documents(
            {"owner_id": owner, "pending_events": "generation.succeeded"}
        )
        if owed_seen and round_ >= 2:
            break
    finished = {
        str(g["_id"])
        async for g in get_db().generations.find(
            {"owner_id": owner, "status": "succeeded"}, {"_id": 1}
        )
    }
    assert finished, "no generation finished before the kills"
    # The dispatcher on: relays what is owed, delivers.
    served = await start_server(settings, WEBHOOK_DISPATCH="true")
    try:
        await receiver.wait_for(len(finished), within=120)
        await asyncio.sleep(1.0)
    finally:
        served.process.terminate()
        await served.process.wait()
    events = [_verified(secret, r) for r in receiver.received]
    delivered = {e["data"]["generation_id"] for e in events}
    assert delivered == finished
    assert len({r.headers["webhook-id"] for r in receiver.received}) == len(finished)
    owing = {"owner_id": owner, "pending_events.0": {"$exists": True}}
    assert await get_db().generations.count_documents(owing) == 0
    print(f"generations owing their event after a kill: {owed_seen}")


async def test_cleanup_drops_the_old_log_but_not_what_is_pending(
    client: httpx.AsyncClient, alice: TestUser, receiver: Receiver
):
    endpoint = await _endpoint(client, alice, receiver.url, ["generation.succeeded"])
    await _finished_generation(client, alice)
    await receiver.wait_for(1)
    [delivery] = await _settled_log(client, alice, endpoint["id"])
    old = utcnow() - timedelta(days=31)
    db = get_db()
    await db.webhook_deliveries.update_one({"_id": delivery["id"]}, {"$set": {"updated_at": old}})
    await db.events.update_one({"_id": delivery["event_id"]}, {"$set": {"created_at": old}})
    # Another endpoint's delivery of the same event, still pending, keeps the event.
    other = {**(await db.webhook_deliveries.find_one({"_id": delivery["id"]}))}
    other.update(
        _id=f"{delivery['event_id']}@other",
        endpoint_id=ObjectId(),  # an endpoint that is gone: nothing sends it meanwhile
        status="pending",
        next_attempt_at=utcnow() + timedelta(hours=1),
        updated_at=old,
    )
    await db.webhook_deliveries.insert_one(other)
    report = await run_cleanup()
    assert report.webhook_deliveries >= 1
    assert await db.webhook_deliveries.count_documents({"_id": delivery["id"]}) == 0
    assert await db.events.count_documents({"_id": delivery["event_id"]}) == 1
    await db.webhook_deliveries.delete_one({"_id": other["_id"]})
    await db.webhook_deliveries.delete_many({"event_id": delivery["event_id"]})
    assert (await run_cleanup()).webhook_events >= 1
    assert await db.events.count_documents({"_id": delivery["event_id"]}) == 0

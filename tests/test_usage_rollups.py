"""Batch ingest and usage rollups: exact sums under concurrency, after a repeated batch, after a
`kill -9` between the event insert and the rollup update, and after a rebuild."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from beanie import PydanticObjectId
from bson import ObjectId
from fastapi import FastAPI

from app.analytics.schemas import period_bucket
from app.database import get_db
from app.settings import Settings
from app.usage import rollups
from app.usage.ledger import draft_event
from app.usage.rollups import rollup_document, sums_of
from documents.usage import UsageBatch, UsageEvent
from tests.factories import TestUser, make_api_key, register_user
from tests.racing import needs_isolation
from tests.servers import start_server
from tests.test_cli import run_cli

BATCH = "/api/v1/usage/batch"
REPORT = "/api/v1/analytics/usage"
DAYS = ["2026-05-30", "2026-05-31", "2026-06-01"]  # a month and an ISO week boundary
MODELS = [("gpt-a", "openai"), ("gpt-b", "openai"), ("claude-c", "anthropic")]
MEASURES = ["calls", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_micros"]


def random_event(rng: random.Random, request_id: str) -> dict[str, Any]:
    model, provider = rng.choice(MODELS)
    status = "error" if rng.random() < 0.1 else "ok"
    return {
        "request_id": request_id,
        "provider": provider,
        "model": model,
        "operation": rng.choice(["chat", "code"]),
        "prompt_tokens": rng.randrange(0, 5000),
        "completion_tokens": rng.randrange(0, 2000),
        "cost_usd": f"{rng.randrange(0, 3_000_000) / 1_000_000:.6f}",
        "latency_ms": rng.randrange(0, 9000),
        "status": status,
        "occurred_at": f"{rng.choice(DAYS)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
    }


class Ledger:
    """What the test sent, once per (user, request_id): the sums every report must give."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], tuple[dict[str, Any], str | None]] = {}

    def add(self, user: TestUser, event: dict[str, Any], key_id: str | None) -> None:
        self.events.setdefault((user.id, event["request_id"]), (event, key_id))

    def report(self, user: TestUser, key_of: Callable[[dict, str | None], str | None]) -> dict:
        rows: dict[str | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
        for (owner, _), (event, key_id) in self.events.items():
            if owner != user.id:
                continue
            row = rows[key_of(event, key_id)]
            row["calls"] += 1
            row["errors"] += event["status"] == "error"
            row["prompt_tokens"] += event["prompt_tokens"]
            row["completion_tokens"] += event["completion_tokens"]
            row["total_tokens"] += event["prompt_tokens"] + event["completion_tokens"]
            row["cost_micros"] += round(float(event["cost_usd"]) * 1_000_000)
        return dict(rows)


GROUPINGS: dict[str, Callable[[dict, str | None], str | None]] = {
    "day": lambda e, _: e["occurred_at"][:10],
    "model": lambda e, _: e["model"],
    "provider": lambda e, _: e["provider"],
    "operation": lambda e, _: e["operation"],
    "api_key": lambda _, key_id: key_id,
}


async def assert_reports_match(client: httpx.AsyncClient, ledger: Ledger, user: TestUser) -> None:
    params = {"from": DAYS[0], "to": DAYS[-1]}
    for group_by, key_of in GROUPINGS.items():
        report = await client.get(
            REPORT, params={**params, "group_by": group_by}, headers=user.headers
        )
        assert report.status_code == 200, report.text
        got = {row["key"]: {m: row[m] for m in MEASURES} for row in report.json()["items"]}
        assert got == ledger.report(user, key_of), group_by
    for granularity in ("week", "month"):
        report = await client.get(
            REPORT, params={**params, "granularity": granularity}, headers=user.headers
        )
        got = {row["key"]: {m: row[m] for m in MEASURES} for row in report.json()["items"]}
        expected = ledger.report(
            user, lambda e, _, g=granularity: period_bucket(e["occurred_at"][:10], g)
        )
        assert got == expected, granularity


async def stored_rollups(owner_ids: list[str]) -> dict[str, dict[str, Any]]:
    found = get_db()["usage_rollups"].find({"owner_id": {"$in": [ObjectId(o) for o in owner_ids]}})
    return {doc["_id"]: _comparable(doc) async for doc in found}


async def recomputed_rollups(owner_ids: list[str]) -> dict[str, dict[str, Any]]:
    events = get_db()["usage_events"].find({"owner_id": {"$in": [ObjectId(o) for o in owner_ids]}})
    sums = sums_of([raw async for raw in events])
    return {
        doc["_id"]: _comparable(doc) for doc in (rollup_document(k, v) for k, v in sums.items())
    }


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("created_at", "updated_at")}


async def ingest(
    clients: list[httpx.AsyncClient], users: list[TestUser], *, batches: int, size: int
) -> Ledger:
    """len(clients) concurrent senders, each `batches` batches of `size` events, one in ten a
    repeat of an earlier request_id of the same user (from an earlier batch or this one)."""
    ledger = Ledger()
    keys = {u.id: await make_api_key(clients[0], u, ["usage:write"]) for u in users}
    key_ids = {}
    for user in users:
        listed = (await clients[0].get("/api/v1/users/me/api-keys", headers=user.headers)).json()
        key_ids[user.id] = listed["items"][0]["id"]
    sent: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def sender(n: int) -> None:
        rng = random.Random(n)
        client, user = clients[n % len(clients)], users[n % len(users)]
        with_key = n % 2 == 0
        headers = {"X-API-Key": keys[user.id]} if with_key else user.headers
        for b in range(batches):
            events = []
            for i in range(size):
                if sent[user.id] and rng.random() < 0.1:
                    events.append(rng.choice(sent[user.id]))
                else:
                    events.append(random_event(rng, f"c{n}-b{b}-e{i}"))
            response = await client.post(BATCH, json={"events": events}, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["recorded"] + body["duplicates"] == size
            for event in events:
                ledger.add(user, event, key_ids[user.id] if with_key else None)
            sent[user.id].extend(events)

    await asyncio.gather(*(sender(n) for n in range(20)))
    return ledger


async def test_batch_records_each_request_id_once(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    rng = random.Random(7)
    events = [random_event(rng, f"once-{i}") for i in range(5)]
    first = await client.post(BATCH, json={"events": [*events, events[1]]}, headers=alice.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["recorded"], body["duplicates"]) == (5, 1)
    assert [item["duplicate"] for item in body["items"]] == [False] * 5 + [True]
    assert body["items"][5]["id"] == body["items"][1]["id"]
    assert [item["request_id"] for item in body["items"]] == [e["request_id"] for e in events] + [
        "once-1"
    ]
    before = await stored_rollups([alice.id])
    again = await client.post(BATCH, json={"events": events}, headers=alice.headers)
    assert again.json()["recorded"] == 0 and again.json()["duplicates"] == 5
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in body["items"][:5]]
    assert await stored_rollups([alice.id]) == before
    single = await client.post("/api/v1/usage", json=events[0], headers=alice.headers)
    assert single.status_code == 200 and single.json()["id"] == body["items"][0]["id"]
    assert await stored_rollups([alice.id]) == before == await recomputed_rollups([alice.id])


async def test_one_bad_event_is_422_naming_it_and_writes_nothing(
    client: httpx.AsyncClient, bob: TestUser, alice: TestUser
) -> None:
    rng = random.Random(3)
    good = [random_event(rng, f"bad-{i}") for i in range(4)]
    foreign_generation = (
        await client.post(
            "/api/v1/generations", json={"kind": "ui", "prompt": "x"}, headers=alice.headers
        )
    ).json()["id"]
    cases = [
        ({**good[2], "cost_usd": -1}, ["body", "events", "2", "cost_usd"]),
        ({**good[2], "model": {"$ne": 1}}, ["body", "events", "2", "model"]),
        (
            {**good[2], "generation_id": foreign_generation},
            ["body", "events", "2", "generation_id"],
        ),
    ]
    for bad, loc in cases:
        events = [*good[:2], bad, *good[3:]]
        response = await client.post(BATCH, json={"events": events}, headers=bob.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"][: len(loc)] == loc
    assert (await client.get("/api/v1/usage", headers=bob.headers)).json()["items"] == []
    assert await stored_rollups([bob.id]) == {}
    too_many = [random_event(rng, f"many-{i}") for i in range(1001)]
    assert (
        await client.post(BATCH, json={"events": too_many}, headers=bob.headers)
    ).status_code == 422
    assert (await client.post(BATCH, json={"events": []}, headers=bob.headers)).status_code == 422


async def test_batch_needs_the_usage_write_scope(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    assert (await client.post(BATCH, json={"events": []})).status_code == 401
    reader = await make_api_key(client, alice, ["usage:read"])
    event = random_event(random.Random(1), "scoped")
    response = await client.post(BATCH, json={"events": [event]}, headers={"X-API-Key": reader})
    assert response.status_code == 403
    writer = await make_api_key(client, alice, ["usage:write"])
    response = await client.post(BATCH, json={"events": [event]}, headers={"X-API-Key": writer})
    assert response.status_code == 200


async def _scenario(
    clients: list[httpx.AsyncClient], client: httpx.AsyncClient, *, batches: int, size: int = 100
) -> None:
    users = [await register_user(client, name=f"Ingest{i}") for i in range(4)]
    ledger = await ingest(clients, users, batches=batches, size=size)
    ids = [u.id for u in users]
    assert await stored_rollups(ids) == await recomputed_rollups(ids)
    journals = {"owner_id": {"$in": [ObjectId(i) for i in ids]}}
    assert await get_db()["usage_batches"].count_documents(journals) == 0
    for user in users:
        await assert_reports_match(client, ledger, user)


async def test_twenty_clients_of_batches_sum_exactly(client: httpx.AsyncClient) -> None:
    """20 concurrent senders × 3 batches × 30 events through the in-process app: the request
    logic (journal, duplicates across batches and senders, increments) interleaved at every
    await. It is not a race test: on the embedded engine the app's one connection orders the
    commands. The race, 50 batches of 100 each across processes and pools, is the next test."""
    await _scenario([client], client, batches=3, size=30)


@needs_isolation
async def test_twenty_racing_clients_of_batches_sum_exactly(
    racers, client: httpx.AsyncClient
) -> None:
    """The same scenario from two app processes with pools of 16: concurrent `$inc` upserts of
    one rollup need an engine that isolates single-document updates."""
    await _scenario(racers.clients, client, batches=50)


async def test_kill_9_between_event_insert_and_rollup_update_heals_at_start(
    settings: Settings, client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Kill the app while four senders ingest batches, until a kill lands after a batch's events
    were stored and before its increments were: the rollups are then short. The restarted app
    folds the dead writer's journal at start (grace 0.5 s here); the rollups equal a recompute
    from the events and the reports their sums. A kill that lands after the increments (journal
    left, rollups already right) must not be counted twice either."""
    user = await register_user(client, name="Crash")
    db = get_db()
    short_seen = False
    for attempt in range(10):
        served = await start_server(settings, ROLLUP_FOLD_AFTER_S="3600")
        http = httpx.AsyncClient(base_url=served.base_url, timeout=30)

        async def sender(n: int, http: httpx.AsyncClient = http, attempt: int = attempt) -> None:
            rng = random.Random(attempt * 100 + n)
            for b in range(10_000):
                events = [random_event(rng, f"k{attempt}-{n}-{b}-{i}") for i in range(200)]
                try:
                    await http.post(BATCH, json={"events": events}, headers=user.headers)
                except httpx.TransportError:
                    return

        tasks = [asyncio.create_task(sender(n)) for n in range(4)]
        await asyncio.sleep(1.0 + attempt * 0.137)
        served.process.send_signal(signal.SIGKILL)
        await served.process.wait()
        await asyncio.gather(*tasks)
        await http.aclose()

        # The dead writer's last commands may still be running on an engine that executes
        # them in parallel (its `insert_many` goes on after the client is gone): the fold's
        # grace is for after they end, as `ROLLUP_FOLD_AFTER_S` is in production.
        events = db["usage_events"]
        owner = {"owner_id": ObjectId(user.id)}
        seen = [await events.count_documents(owner)]
        while len(seen) < 3 or len(set(seen[-3:])) > 1:
            await asyncio.sleep(0.2)
            seen.append(await events.count_documents(owner))
        journals = await db["usage_batches"].count_documents(owner)
        if not journals:
            continue
        short = await stored_rollups([user.id]) != await recomputed_rollups([user.id])
        short_seen = short_seen or short
        await asyncio.sleep(0.6)  # older than the restarted app's fold grace
        restarted = await start_server(settings, ROLLUP_FOLD_AFTER_S="0.5")
        try:
            for _ in range(200):
                if not await db["usage_batches"].count_documents({"owner_id": ObjectId(user.id)}):
                    break
                await asyncio.sleep(0.05)
            assert await stored_rollups([user.id]) == await recomputed_rollups([user.id])
        finally:
            restarted.process.terminate()
            await restarted.process.wait()
        if short_seen:
            break
    assert short_seen, "no kill landed between a batch's events and its increments"
    totals = (
        await client.get(REPORT, params={"from": DAYS[0], "to": DAYS[-1]}, headers=user.headers)
    ).json()["totals"]
    days = (await recomputed_rollups([user.id])).values()
    assert totals["calls"] == sum(doc["total"]["calls"] for doc in days)
    assert totals["cost_micros"] == sum(doc["total"]["cost_micros"] for doc in days)


async def test_rebuild_equals_the_incremental_rollups(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    users = [await register_user(client, name=f"Rebuild{i}") for i in range(2)]
    rng = random.Random(11)
    for user in users:
        for b in range(3):
            events = [random_event(rng, f"r{b}-{i}") for i in range(300)]
            await client.post(BATCH, json={"events": events}, headers=user.headers)
    ids = [u.id for u in users]
    incremental = await stored_rollups(ids)
    assert incremental == await recomputed_rollups(ids)

    # Wrong sums inside the period and before it, a key and a day with no events left.
    rollups = get_db()["usage_rollups"]
    first = ObjectId(users[0].id)
    await rollups.update_many({"owner_id": first, "day": DAYS[1]}, {"$inc": {"total.calls": 5}})
    await rollups.update_many({"owner_id": first, "day": DAYS[0]}, {"$inc": {"total.calls": 7}})
    await rollups.update_many(
        {"owner_id": first, "day": DAYS[2]}, {"$set": {"model.ghost": {"calls": 1}}}
    )
    await rollups.insert_one({"_id": f"{first}:2026-06-02", "owner_id": first, "day": "2026-06-02"})

    await run_cli(settings, "analytics", "rebuild", "--from", DAYS[1], "--to", "2026-06-02",
                  "--owner", users[0].email)  # fmt: skip
    after = await stored_rollups(ids)
    assert f"{first}:2026-06-02" not in after
    assert {k: v for k, v in after.items() if DAYS[0] not in k} == {
        k: v for k, v in incremental.items() if DAYS[0] not in k
    }
    assert after != incremental  # the day before the period kept its error

    await rollups.delete_many({"owner_id": {"$in": [ObjectId(i) for i in ids]}})
    done = await run_cli(settings, "analytics", "rebuild")
    assert "rebuilt" in done.stderr
    assert await stored_rollups(ids) == incremental
    again = await run_cli(settings, "analytics", "rebuild")
    assert "removed 0" in again.stderr
    assert await stored_rollups(ids) == incremental


def test_buckets_are_iso_weeks_and_calendar_months() -> None:
    assert period_bucket("2026-05-31", "week") == "2026-W22"
    assert period_bucket("2026-06-01", "week") == "2026-W23"
    assert period_bucket("2027-01-01", "week") == "2026-W53"
    assert period_bucket("2026-05-31", "month") == "2026-05"
    assert period_bucket("2026-05-31", "day") == "2026-05-31"
    assert date.fromisoformat("2026-05-31").isoweekday() == 7


async def test_fold_applies_a_dead_writers_batch_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The two states a dead writer can leave, built step by step with the writer's own
    functions: events stored but not counted, and counted but journal not deleted. Folding
    either (twice) gives the recompute; a token left in `batches` is swept."""
    user = await register_user(client, name="Fold")
    owner = ObjectId(user.id)
    rng = random.Random(5)
    for applied in (False, True):
        drafts = [
            draft_event(owner, **_fields(random_event(rng, f"f{applied}-{i}"))) for i in range(50)
        ]
        for draft in drafts:
            draft.id = PydanticObjectId()
        journal = UsageBatch(owner_id=owner, event_ids=[d.id for d in drafts])
        await journal.insert()
        await UsageEvent.insert_many(drafts)
        if applied:
            await rollups.apply_batch(journal.id, drafts)
            assert await stored_rollups([user.id]) != await recomputed_rollups([user.id])  # token
        else:
            assert await stored_rollups([user.id]) != await recomputed_rollups([user.id])
        for _ in range(2):
            await rollups.fold_pending(owner, older_than=timedelta(0))
        assert await stored_rollups([user.id]) == await recomputed_rollups([user.id])
    # A writer that died after deleting its journal leaves only its id in `batches`.
    orphan = ObjectId()
    await get_db()["usage_rollups"].update_many({"owner_id": owner}, {"$push": {"batches": orphan}})
    await rollups.fold_pending(owner, older_than=timedelta(0))
    assert await stored_rollups([user.id]) == await recomputed_rollups([user.id])


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": event["request_id"],
        "provider": event["provider"],
        "model": event["model"],
        "operation": event["operation"],
        "prompt_tokens": event["prompt_tokens"],
        "completion_tokens": event["completion_tokens"],
        "cost_micros": round(float(event["cost_usd"]) * 1_000_000),
        "latency_ms": event["latency_ms"],
        "status": event["status"],
        "occurred_at": datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")),
    }


async def test_any_key_survives_the_rollups(client: httpx.AsyncClient) -> None:
    """Keys become field names: dots, dollars, tildes, control and non-ASCII characters come
    back from the reports exactly as sent."""
    user = await register_user(client, name="Keys")
    models = ["a.b", "$x", "~", "%7E", "Y\u0096\t\u0085", "\u0095*.sp", "café 🎨", "-_"]
    events = [
        {**random_event(random.Random(i), f"key-{i}"), "model": model, "provider": model}
        for i, model in enumerate(models)
    ]
    response = await client.post(BATCH, json={"events": events}, headers=user.headers)
    assert response.status_code == 200, response.text
    for group_by in ("model", "provider"):
        report = await client.get(
            REPORT, params={"from": DAYS[0], "to": DAYS[-1], "group_by": group_by},
            headers=user.headers,
        )  # fmt: skip
        assert sorted(row["key"] for row in report.json()["items"]) == sorted(models)
    assert await stored_rollups([user.id]) == await recomputed_rollups([user.id])

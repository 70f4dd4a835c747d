"""Usage analytics at a million events (batch ingest, rollup rebuild, reports), and exact money
at scale."""

from __future__ import annotations

import statistics
import time
from datetime import datetime

import httpx
from bson import ObjectId

from app.analytics import pipelines
from app.money import to_usd
from app.usage.rebuild import EVENT_FIELDS
from bench.harness import Bench, Row, Stats, run_genstore
from bench.seeding import seed_usage, stored_usage_event
from documents.usage import UsageEvent

MILLION = 1_000_000
INGEST_BATCHES = 40
BATCH_SIZE = 1000
PERIOD = {"from": "2026-01-01", "to": "2026-04-10"}
GROUPINGS = ("day", "model", "provider", "operation", "api_key")


def _batch(prefix: str, b: int) -> list[dict]:
    return [
        {
            "request_id": f"{prefix}-{b}-{i}",
            "provider": "p",
            "model": f"m{i % 5}",
            "operation": "chat",
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "cost_usd": "0.001234",
            "latency_ms": 100 + i % 50,
            "occurred_at": f"2026-04-{1 + b % 10:02d}T12:00:00Z",
        }
        for i in range(BATCH_SIZE)
    ]


def _stored(owner: ObjectId, event: dict) -> dict:
    """What the raw floor inserts for one event: the same document the app stores."""
    return stored_usage_event(
        owner,
        request_id=event["request_id"],
        provider=event["provider"],
        model=event["model"],
        operation=event["operation"],
        latency_ms=event["latency_ms"],
        occurred=datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")),
    )


async def analytics_at_a_million(bench: Bench) -> None:
    """Usage analytics at 1,000,000 events: batch ingest against raw `insert_many`, the rebuild
    of every rollup against a raw scan of the events, and each report against `/users/me`."""
    report, api, db, auth = bench.report, bench.api, bench.db, bench.auth
    owner = bench.owner

    # Batch ingest: app and floor alternate batch by batch, the same documents, the floor into
    # a collection with the events' indexes (dropped after: FerretDB v1 cannot delete 40,000
    # documents in one command, "too many SQL variables").
    floor_owner = ObjectId()
    floor_events = db["bench_floor_usage_events"]
    for index in UsageEvent.Settings.indexes:
        await floor_events.create_indexes([index])
    app_seconds = floor_seconds = 0.0
    for b in range(INGEST_BATCHES):
        events = _batch("ingest", b)
        started = time.perf_counter()
        response = await api.post("/api/v1/usage/batch", json={"events": events}, headers=auth)
        app_seconds += time.perf_counter() - started
        assert response.status_code == 200 and response.json()["recorded"] == BATCH_SIZE
        docs = [_stored(floor_owner, event) for event in _batch("floor", b)]
        started = time.perf_counter()
        await floor_events.insert_many(docs, ordered=False)
        floor_seconds += time.perf_counter() - started
    ingested = INGEST_BATCHES * BATCH_SIZE
    app_rate, floor_rate = ingested / app_seconds, ingested / floor_seconds
    report.rows.append(
        Row(
            f"batch ingest, {BATCH_SIZE:,} events per request (events/s)",
            1,
            Stats(app_rate, app_seconds / INGEST_BATCHES * 1000, 0, INGEST_BATCHES),
            Stats(floor_rate, floor_seconds / INGEST_BATCHES * 1000, 0, INGEST_BATCHES),
        )
    )
    report.targets.append(
        (
            "batch ingest ≥ 0.5 of the raw `insert_many` floor (events/s)",
            f"{app_rate:,.0f} vs {floor_rate:,.0f} events/s = {app_rate / floor_rate:.2f}",
            app_rate >= 0.5 * floor_rate,
        )
    )
    await floor_events.drop()
    bench.save()

    # The rest of the million, written raw (as events recorded before rollups existed).
    await seed_usage(db, owner, MILLION - ingested)
    started = time.perf_counter()
    scanned = 0
    async for _ in db.usage_events.find({}, EVENT_FIELDS, batch_size=10_000):
        scanned += 1
    scan_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rebuilt = await run_genstore(bench, "analytics", "rebuild")
    rebuild_seconds = time.perf_counter() - started
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    report.targets.append(
        (
            "rebuild of the rollups of 1,000,000 events < 2 minutes",
            f"{rebuild_seconds:.0f} s (a raw driver scan of the same {scanned:,} events alone: "
            f"{scan_seconds:.0f} s)",
            rebuild_seconds < 120,
        )
    )
    bench.save()

    # Reports against /users/me, alternating, same client.
    await db.users.update_one({"_id": owner}, {"$addToSet": {"roles": "admin"}})
    me_times = [await _timed(api, "/api/v1/users/me", {}, auth) for _ in range(30)]
    me_ms = statistics.median(me_times) * 1000
    worst = 0.0
    for path, group_by in [("/api/v1/analytics/usage", g) for g in GROUPINGS] + [
        ("/api/v1/admin/analytics/usage", "user")
    ]:
        params = {**PERIOD, "group_by": group_by}
        times = [await _timed(api, path, params, auth) for _ in range(10)]
        ms = statistics.median(times) * 1000
        worst = max(worst, ms / me_ms)
        label = "admin " if "admin" in path else ""
        report.rows.append(
            Row(
                f"{label}report group_by={group_by}, 1,000,000 events (vs /users/me)",
                1,
                Stats(1000 / ms, ms, max(times) * 1000, len(times)),
                Stats(1000 / me_ms, me_ms, max(me_times) * 1000, len(me_times)),
            )
        )
    totals = (await api.get("/api/v1/analytics/usage", params=PERIOD, headers=auth)).json()
    assert totals["totals"]["calls"] == MILLION, totals["totals"]
    # The probe: the same rollup documents read through the driver alone.
    days = {"owner_id": owner, "day": {"$gte": PERIOD["from"], "$lte": PERIOD["to"]}}
    raw_times = []
    for _ in range(10):
        started = time.perf_counter()
        rows = await db.usage_rollups.find(days).to_list()
        raw_times.append(time.perf_counter() - started)
    raw_ms = statistics.median(raw_times) * 1000
    report.targets.append(
        (
            "every usage report at 1,000,000 events ≤ 3× the latency of /users/me",
            f"slowest {worst:.2f}× ({me_ms:.1f} ms for /users/me; a raw driver find of the same "
            f"{len(rows)} day rollups alone: {raw_ms:.1f} ms = {raw_ms / me_ms:.1f}×)",
            worst <= 3,
        )
    )
    bench.save()


async def _timed(api: httpx.AsyncClient, path: str, params: dict, auth: dict) -> float:
    started = time.perf_counter()
    response = await api.get(path, params=params, headers=auth)
    assert response.status_code == 200, response.text[:300]
    return time.perf_counter() - started


async def exact_money(bench: Bench) -> None:
    """Exact money at scale: 1,000,000 events of $0.000001."""
    report, db = bench.report, bench.db
    penny = ObjectId()
    # Only the fields this sum reads, to keep the million inserts short on FerretDB.
    for start in range(0, 1_000_000, 20_000):
        await db.usage_events.insert_many(
            [
                {"owner_id": penny, "request_id": f"p{i}", "day": "2026-01-01", "cost_micros": 1}
                for i in range(start, start + 20_000)
            ],
            ordered=False,
        )
    cursor = await db.usage_events.aggregate(
        pipelines.total_of({"$match": {"owner_id": penny}}, "cost_micros")
    )
    total_micros = (await cursor.to_list())[0]["value"]

    report.targets.append(
        (
            "1,000,000 events of $0.000001 sum to exactly $1.000000",
            f"{total_micros} micro-dollars = ${to_usd(total_micros):.6f}",
            total_micros == 1_000_000,
        )
    )

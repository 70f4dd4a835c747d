"""Analytics latency against the same pipelines through the driver, and exact money at scale."""

from __future__ import annotations

import statistics
import time

from bson import ObjectId

from app.analytics import pipelines
from app.money import to_usd
from bench.harness import Bench, Row, Stats
from bench.seeding import seed_usage


async def analytics_latency(bench: Bench) -> None:
    """Analytics over 100,000 events: the endpoint vs the same pipelines through PyMongo (one
    `$group` with every accumulator where the engine computes them all, else one per measure,
    as the app runs them)."""
    report, api, db, auth, me = bench.report, bench.api, bench.db, bench.auth, bench.me
    owner = ObjectId(me["id"])
    await seed_usage(db, owner, 100_000)
    first_day, last_day = "2026-01-01", "2026-04-10"
    one_group = bench.engine.multi_accumulator_group

    async def raw_aggregate() -> None:
        # The same match stage the app's owner scope builds: owner first, then the period.
        match = {"$match": {"owner_id": owner, **pipelines.in_period(first_day, last_day)}}
        named = pipelines.usage_pipelines(match, "day", one_group=one_group)
        for pipeline in named.values():
            await (await db.usage_events.aggregate(pipeline)).to_list()

    raw_times, api_times = [], []
    for _ in range(2):
        started = time.perf_counter()
        await raw_aggregate()
        raw_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        response = await api.get(
            "/api/v1/analytics/usage",
            params={"from": first_day, "to": last_day, "group_by": "day"},
            headers=auth,
        )
        api_times.append(time.perf_counter() - started)
        assert response.json()["totals"]["calls"] == 100_000, response.text[:300]
    raw_ms, api_ms = statistics.median(raw_times) * 1000, statistics.median(api_times) * 1000
    report.rows.append(
        Row(
            "analytics group_by=day, 100,000 events",
            1,
            Stats(1000 / api_ms, api_ms, max(api_times) * 1000, 3),
            Stats(1000 / raw_ms, raw_ms, max(raw_times) * 1000, 3),
        )
    )
    report.targets.append(
        (
            "analytics endpoint ≤ 1.2× the raw aggregate's time",
            f"{api_ms:.0f} ms vs {raw_ms:.0f} ms = {api_ms / raw_ms:.2f}×",
            api_ms <= raw_ms * 1.2,
        )
    )

    bench.save()


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

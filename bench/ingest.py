"""Racing batch ingest: ten clients at once, each batch repeating a tenth of another client's
request ids, against raw `insert_many` of the same events from ten tasks at once.

It measures what a gateway fleet does to the ledger: batches that race on one owner's rollups
and on repeated `request_id`s (the unique index), where engines that isolate answer some writes
"deadlock detected" or WriteConflict (README "Engines"). Every answer must be a 200 and the
ledger exact.
"""

from __future__ import annotations

import asyncio
import time

from bson import ObjectId
from pymongo.errors import BulkWriteError

from app.engine import is_unique_error
from bench.analytics import BATCH_SIZE, _batch, _stored
from bench.harness import Bench, Row, Stats
from documents.usage import UsageEvent

CLIENTS = 10
ROUNDS = 5
REPEATED = BATCH_SIZE // 10


def _round_batches(prefix: str, round_: int) -> list[list[dict]]:
    """One batch per client: 900 ids of its own, then 100 of the next client's (repeats)."""
    own = [_batch(f"{prefix}-{round_}-{c}", 0)[: BATCH_SIZE - REPEATED] for c in range(CLIENTS)]
    return [own[c] + own[(c + 1) % CLIENTS][:REPEATED] for c in range(CLIENTS)]


async def racing_batch_ingest(bench: Bench) -> None:
    api, db, auth = bench.api, bench.db, bench.auth
    sign_up = await api.post(
        "/api/v1/auth/register",
        json={"email": f"ingest-{ObjectId()}@example.com", "password": "benchmark-pass"},
    )
    owner = sign_up.json()["id"]
    token = await api.post(
        "/api/v1/auth/token",
        data={"username": sign_up.json()["email"], "password": "benchmark-pass"},
    )
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    floor_owner = ObjectId()
    floor_events = db["bench_floor_racing_events"]
    for index in UsageEvent.Settings.indexes:
        await floor_events.create_indexes([index])

    async def post(batch: list[dict]) -> int:
        response = await api.post("/api/v1/usage/batch", json={"events": batch}, headers=auth)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        return response.json()["recorded"]

    async def insert(docs: list[dict]) -> None:
        """Raw `insert_many`, with the least any raw-driver caller must add on an engine that
        locks rows: the rows in `request_id` order (else racing batches wait on each other in
        cycles that PostgreSQL breaks one row per deadlock timeout), and rows refused as
        deadlocks sent again, at once (no backoff, so the floor stays a floor). The repeats,
        refused by the unique index (as each engine reports it, `app/engine`), are dropped."""
        docs = sorted(docs, key=lambda doc: doc["request_id"])
        for _attempt in range(20):
            try:
                await floor_events.insert_many(docs, ordered=False)
                return
            except BulkWriteError as exc:
                refused = [
                    e
                    for e in exc.details["writeErrors"]
                    if not is_unique_error(e.get("code"), e.get("errmsg"))
                ]
                if not refused:
                    return
                docs = [docs[e["index"]] for e in refused]
        raise RuntimeError(f"{len(docs)} rows still refused after 20 attempts")

    app_seconds = floor_seconds = 0.0
    recorded = 0
    for round_ in range(ROUNDS):
        batches = _round_batches("race", round_)
        started = time.perf_counter()
        recorded += sum(await asyncio.gather(*(post(batch) for batch in batches)))
        app_seconds += time.perf_counter() - started
        docs = [
            [_stored(floor_owner, event) for event in batch]
            for batch in _round_batches("floor", round_)
        ]
        started = time.perf_counter()
        await asyncio.gather(*(insert(batch) for batch in docs))
        floor_seconds += time.perf_counter() - started
    sent = ROUNDS * CLIENTS * BATCH_SIZE
    unique = ROUNDS * CLIENTS * (BATCH_SIZE - REPEATED)
    stored = await db.usage_events.count_documents({"owner_id": ObjectId(owner)})
    floor_stored = await floor_events.count_documents({"owner_id": floor_owner})
    await floor_events.drop()
    if (recorded, stored, floor_stored) != (unique, unique, unique):
        raise RuntimeError(
            f"recorded {recorded}, stored {stored} and {floor_stored} events, expected {unique}"
        )
    app_rate, floor_rate = sent / app_seconds, sent / floor_seconds
    bench.report.rows.append(
        Row(
            f"racing batch ingest, {CLIENTS} clients × {BATCH_SIZE:,} events, 10 % repeated "
            "request ids (events sent/s)",
            CLIENTS,
            Stats(app_rate, app_seconds / ROUNDS * 1000, 0, ROUNDS * CLIENTS),
            Stats(floor_rate, floor_seconds / ROUNDS * 1000, 0, ROUNDS * CLIENTS),
        )
    )
    bench.report.targets.append(
        (
            "racing batch ingest ≥ 0.5 of raw `insert_many` of the same events, every answer "
            "200 and the ledger exact",
            f"{app_rate:,.0f} vs {floor_rate:,.0f} events/s = {app_rate / floor_rate:.2f}; "
            f"{recorded:,} recorded of {sent:,} sent, {stored:,} stored",
            app_rate >= 0.5 * floor_rate,
        )
    )
    bench.save()

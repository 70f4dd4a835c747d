"""Import throughput: a generated Claude export (conversations of linear chats) through
`POST /api/v1/imports`, from the upload to the job's end, against raw `insert_many` of the same
conversations as documents embedding their messages (the least a raw caller writes), into the
app's own collection (its indexes are part of each insert's cost) under an owner of the floor's.
App and floor alternate over `ROUNDS` fresh exports; each side's median round counts."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from bench.harness import Bench, Row, Stats

CONVERSATIONS = 200
MESSAGES = 50  # each conversation's, within the window: one insert per conversation
ROUNDS = 3


def _export(round_number: int) -> list[dict]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "uuid": f"bench-{round_number}-{c}",
            "name": f"chat {c}",
            "created_at": start.isoformat(),
            "chat_messages": [
                {
                    "uuid": f"{c}-{m}",
                    "parent_message_uuid": f"{c}-{m - 1}" if m else None,
                    "sender": "human" if m % 2 == 0 else "assistant",
                    "text": f"message {m} of chat {c}: " + "lorem ipsum " * 20,
                    "created_at": (start + timedelta(seconds=m)).isoformat(),
                }
                for m in range(MESSAGES)
            ],
        }
        for c in range(CONVERSATIONS)
    ]


def _stored(owner: ObjectId, conversation: dict) -> dict:
    """The same conversation as one document with its messages embedded."""
    now = datetime.now(UTC)
    messages = []
    parent = None
    for message in conversation["chat_messages"]:
        message_id = ObjectId()
        messages.append(
            {
                "id": message_id,
                "role": "user" if message["sender"] == "human" else "assistant",
                "content": message["text"],
                "parent_id": parent,
                "created_at": datetime.fromisoformat(message["created_at"]),
                "day": message["created_at"][:10],
                "size": len(message["text"]) + 256,
            }
        )
        parent = message_id
    return {
        "owner_id": owner,
        "title": conversation["name"],
        "source": {"kind": "claude", "id": conversation["uuid"]},
        "messages": messages,
        "message_count": len(messages),
        "activity_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def import_throughput(bench: Bench) -> None:
    total = CONVERSATIONS * MESSAGES
    app_times, floor_times = [], []
    for round_number in range(ROUNDS):
        data = json.dumps(_export(round_number)).encode()
        app_times.append(await _import_once(bench, data, total))
        floor_times.append(await _insert_once(bench, data))
    app_seconds, floor_seconds = sorted(app_times)[ROUNDS // 2], sorted(floor_times)[ROUNDS // 2]
    app_rate, floor_rate = total / app_seconds, total / floor_seconds
    bench.report.rows.append(
        Row(
            f"import a {CONVERSATIONS}-conversation export, {total:,} messages (messages/s)",
            1,
            Stats(app_rate, app_seconds * 1000, 0, 1),
            Stats(floor_rate, floor_seconds * 1000, 0, 1),
        )
    )
    bench.report.targets.append(
        (
            "import throughput ≥ 0.5 of raw `insert_many` of the same conversations",
            f"{app_rate:,.0f} vs {floor_rate:,.0f} messages/s = {app_rate / floor_rate:.2f}",
            app_rate >= 0.5 * floor_rate,
        )
    )
    bench.save()


async def _import_once(bench: Bench, data: bytes, total: int) -> float:
    api, auth = bench.api, bench.auth
    started = time.perf_counter()
    response = await api.post(
        "/api/v1/imports", files={"file": ("export.json", data)}, headers=auth
    )
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    job_id = response.json()["id"]
    while True:
        job = (await api.get(f"/api/v1/imports/{job_id}", headers=auth)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - started
    if job["status"] != "done" or job["counts"]["messages"] != total:
        raise RuntimeError(f"the import did not write {total} messages: {job}")
    return seconds


async def _insert_once(bench: Bench, data: bytes) -> float:
    collection = bench.db["conversations"]
    owner = ObjectId()
    started = time.perf_counter()
    docs = [_stored(owner, conversation) for conversation in json.loads(data)]
    for first in range(0, len(docs), 100):
        await collection.insert_many(docs[first : first + 100])
    seconds = time.perf_counter() - started
    await collection.delete_many({"owner_id": owner})
    return seconds

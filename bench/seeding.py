"""Data seeded straight into the database, as the app would have written it: for the bench and
for the tests that need a long history without writing it request by request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from documents.conversation import WINDOW_KEEP_MESSAGES, bucket_of


async def seed_long_conversation(
    db: AsyncDatabase,
    owner: ObjectId,
    count: int,
    *,
    window_size: int = WINDOW_KEEP_MESSAGES,
    title: str = "long",
    content: Callable[[int], str] = "message {}".format,
) -> str:
    """A conversation of `count` short messages in the layout rolls produce: archive buckets
    of 10 consecutive seqs, and a window of the newest `window_size`. Its id."""
    now = datetime.now(UTC).replace(microsecond=0)
    conversation_id = ObjectId()
    messages = [
        {
            "id": ObjectId(),
            "seq": s,
            "role": "user" if s % 2 else "assistant",
            "content": content(s),
            "type": "text",
            "created_at": now,
            "day": now.strftime("%Y-%m-%d"),
            "size": 300,
        }
        for s in range(1, count + 1)
    ]
    archived = messages[: count - window_size]
    buckets: dict[int, list] = {}
    for message in archived:
        buckets.setdefault(bucket_of(message["seq"]), []).append(message)
    documents = [
        {
            "owner_id": owner,
            "conversation_id": conversation_id,
            "bucket": b,
            "messages": ms,
            "created_at": now,
            "updated_at": now,
        }
        for b, ms in buckets.items()
    ]
    for i in range(0, len(documents), 500):
        await db.conversation_archives.insert_many(documents[i : i + 500])
    window = [{k: v for k, v in m.items() if k != "seq"} for m in messages[count - window_size :]]
    await db.conversations.insert_one(
        {
            "_id": conversation_id,
            "owner_id": owner,
            "title": title,
            "archived": False,
            "messages": window,
            "message_count": count,
            "archived_count": len(archived),
            "window_bytes": 300 * window_size,
            "revision": 0,
            "last_message_at": now,
            "activity_at": now,
            "created_at": now,
            "updated_at": now,
        }
    )
    return str(conversation_id)


def stored_usage_event(
    owner: ObjectId,
    *,
    request_id: str,
    model: str,
    latency_ms: int,
    occurred: datetime,
    cost_micros: int = 1234,
    provider: str = "p",
    operation: str = "chat",
) -> dict:
    """A successful call of 10 + 5 tokens recorded through the API, as the app stores it."""
    return {
        "owner_id": owner,
        "request_id": request_id,
        "provider": provider,
        "model": model,
        "operation": operation,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost_micros": cost_micros,
        "latency_ms": latency_ms,
        "status": "ok",
        "errors": 0,
        "source": "api",
        "occurred_at": occurred,
        "day": occurred.strftime("%Y-%m-%d"),
        "created_at": occurred,
        "updated_at": occurred,
    }


async def seed_usage(
    db: AsyncDatabase, owner: ObjectId, count: int, *, cost_micros: int = 1234, days: int = 100
) -> None:
    """`count` usage events of five models over `days` days from 2026-01-01."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = []
    for i in range(count):
        occurred = start + timedelta(days=i % days)
        batch.append(
            stored_usage_event(
                owner,
                request_id=f"b{i}",
                model=f"m{i % 5}",
                latency_ms=100 + i % 50,
                occurred=occurred,
                cost_micros=cost_micros,
            )
        )
        if len(batch) == 10_000:
            await db.usage_events.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await db.usage_events.insert_many(batch, ordered=False)

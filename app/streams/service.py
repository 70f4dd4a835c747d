"""Event streams (`text/event-stream`) of a conversation's messages and a generation's status.

A conversation's stream sends each appended message as `event: message` with `id: <seq>`, and
each edit of a message in the window as `event: message.edited` (its `id` stays the last seq
sent, so a resume position only ever moves forward). A client that reconnects with
`Last-Event-ID: <seq>` first gets, from the database, every message after that seq, then the
live feed; a seq already sent is never sent again. Edits made while a client was away are not
replayed (the messages list shows them).

A generation's stream sends its status now and at each transition (`id` 1, 2, 3 for queued,
running and the final status) and closes after the final one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId

from app.auth.scoping import owned, owner_id_of
from app.conversations import history
from app.conversations.schemas import MessageRead
from app.conversations.window import conversations_of, read_conversation
from app.errors import Unprocessable
from app.settings import Settings
from app.streams.feeds import FEEDS, FeedEvent
from documents.conversation import ConversationCard, Message
from documents.generation import Generation
from documents.user import User

STATUS_ORDER = {"queued": 1, "running": 2, "succeeded": 3, "failed": 3}
CATCH_UP_PAGE = 500


def last_event_id(header: str | None) -> int | None:
    if header is None or header == "":
        return None
    if not (header.isascii() and header.isdigit()) or len(header) > 18:
        raise Unprocessable("`Last-Event-ID` is not one this stream sent.", field="header")
    return int(header)


def _frame(event: str, event_id: int, data: Any) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _message_json(raw: dict[str, Any]) -> dict[str, Any]:
    read = MessageRead.model_validate(Message.model_validate(raw).model_dump())
    return read.model_dump(mode="json")


def _generation_json(generation: Generation) -> dict[str, Any]:
    return {
        "id": str(generation.id),
        "status": generation.status,
        "error": generation.error,
        "started_at": generation.started_at,
        "completed_at": generation.completed_at,
        "duration_ms": generation.duration_ms,
    }


async def open_conversation(user: User, conversation_id: str) -> tuple[ObjectId, int]:
    """(the conversation's id, its message count now); 404 when it is not the caller's."""
    card = await conversations_of(user).get_or_404(
        conversation_id, projection_model=ConversationCard
    )
    return ObjectId(str(card.id)), card.message_count


async def conversation_stream(
    user: User, conversation_id: ObjectId, after: int, settings: Settings
) -> AsyncIterator[str]:
    owner = owner_id_of(user)
    feed, key, subscriber = await FEEDS.subscribe(
        owner, conversation_id, poll_s=settings.sse_poll_s, size=settings.sse_queue
    )
    sent = after
    ends = asyncio.get_running_loop().time() + settings.sse_max_s
    try:
        yield "retry: 1000\n\n"
        # From the database: what came after the client's last event (the feed queues meanwhile).
        while True:
            raw = await read_conversation(conversations_of(owner), conversation_id)
            high = min(raw.get("message_count", 0), sent + CATCH_UP_PAGE)
            if high <= sent:
                break
            for message in await history.messages_between(raw, sent + 1, high):
                yield _frame("message", message["seq"], _message_json(message))
                sent = message["seq"]
        while not subscriber.cut_off:
            left = ends - asyncio.get_running_loop().time()
            if left <= 0:
                break  # the client reconnects with Last-Event-ID
            try:
                event: FeedEvent = await asyncio.wait_for(
                    subscriber.queue.get(), min(settings.sse_heartbeat_s, left)
                )
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if event.kind == "message":
                if event.seq <= sent:
                    continue
                if event.seq > sent + 1:  # a gap the feed skipped: the client resumes
                    break
                sent = event.seq
                yield _frame("message", event.seq, _message_json(event.message))
            else:
                yield _frame("message.edited", sent, _message_json(event.message))
    finally:
        await FEEDS.unsubscribe(feed, key)


async def open_generation(user: User, generation_id: str) -> Generation:
    return await owned(Generation, user).get_or_404(generation_id)


async def generation_stream(
    user: User, generation: Generation, after: int, settings: Settings
) -> AsyncIterator[str]:
    scope = owned(Generation, user)
    sent = after
    waited = 0.0
    ends = asyncio.get_running_loop().time() + settings.sse_max_s
    yield "retry: 1000\n\n"
    while asyncio.get_running_loop().time() < ends:
        position = STATUS_ORDER[generation.status]
        if position > sent:
            sent = position
            waited = 0.0
            yield _frame("status", position, _generation_json(generation))
        if position == 3:
            return
        await asyncio.sleep(settings.sse_poll_s)
        waited += settings.sse_poll_s
        if waited >= settings.sse_heartbeat_s:
            waited = 0.0
            yield ": heartbeat\n\n"
        found = await scope.find_one({"_id": generation.id})
        if found is None:
            return
        generation = found

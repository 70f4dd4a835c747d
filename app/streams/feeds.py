"""Live feeds of conversations, for the event streams (`text/event-stream`).

One `ConversationFeed` per watched conversation per process, however many clients watch it:
it reads the conversation every `SSE_POLL_S` (a bounded poll by sequence: only `message_count`
and `updated_at`, and the new messages when those moved), and hands each new or edited
message to every subscriber's queue. Polling works on every engine (change streams need a
replica set, which not every engine has). A subscriber's queue holds at most `SSE_QUEUE` events: a
client that reads too slowly is cut off instead of growing the process's memory, and resumes
with `Last-Event-ID` from the database, missing nothing.

Raw driver, for the reason `app/conversations/window.py` gives: the poll reads two fields, and
new messages come from the window and archive buckets as stored.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.conversations import history
from app.conversations.window import conversations_of, window_with_seq
from app.observability import SSE_CLIENTS, SSE_FEEDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEvent:
    kind: str  # "message" (appended) or "message.edited"
    seq: int
    message: dict[str, Any]


@dataclass
class Subscriber:
    queue: asyncio.Queue[FeedEvent]
    cut_off: bool = False

    def offer(self, event: FeedEvent) -> None:
        if self.cut_off:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.cut_off = True  # the client resumes from the database


@dataclass
class ConversationFeed:
    owner_id: ObjectId
    conversation_id: ObjectId
    poll_s: float
    queues: dict[int, Subscriber] = field(default_factory=dict)
    last_seq: int = 0
    last_change: datetime | None = None
    task: asyncio.Task | None = None

    async def start(self) -> None:
        state = await self._state()
        self.last_seq = state.get("message_count", 0) if state else 0
        self.last_change = state.get("updated_at") if state else None
        self.task = asyncio.create_task(self._run())

    async def _state(self) -> dict[str, Any] | None:
        scope = conversations_of(self.owner_id)
        return await scope.collection.find_one(
            scope.filter({"_id": self.conversation_id}), {"message_count": 1, "updated_at": 1}
        )

    async def _run(self) -> None:
        while self.queues:
            try:
                await self._read_changes()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed read is retried at the next poll
                log.exception("conversation feed read failed")
            await asyncio.sleep(self.poll_s)

    async def _read_changes(self) -> None:
        state = await self._state()
        if state is None:
            return
        if state.get("message_count", 0) == self.last_seq and state.get("updated_at") == (
            self.last_change
        ):
            return
        scope = conversations_of(self.owner_id)
        raw = await scope.collection.find_one(scope.filter({"_id": self.conversation_id}))
        if raw is None:
            return
        since = self.last_change
        count = raw.get("message_count", 0)
        for message in await history.messages_between(raw, self.last_seq + 1, count):
            self._publish(FeedEvent("message", message["seq"], message))
        for message in window_with_seq(raw):
            edited = message.get("edited_at")
            if edited is not None and since is not None and edited > since:
                if message["seq"] <= self.last_seq:
                    self._publish(FeedEvent("message.edited", message["seq"], message))
        self.last_seq = max(self.last_seq, count)
        self.last_change = raw.get("updated_at")

    def _publish(self, event: FeedEvent) -> None:
        for subscriber in self.queues.values():
            subscriber.offer(event)


class Feeds:
    """This process's feeds, one per watched conversation."""

    def __init__(self) -> None:
        self._feeds: dict[ObjectId, ConversationFeed] = {}
        self._lock = asyncio.Lock()

    async def subscribe(
        self, owner_id: ObjectId, conversation_id: ObjectId, *, poll_s: float, size: int
    ) -> tuple[ConversationFeed, int, Subscriber]:
        async with self._lock:
            feed = self._feeds.get(conversation_id)
            if feed is None or feed.task is None or feed.task.done():
                feed = ConversationFeed(owner_id, conversation_id, poll_s)
                self._feeds[conversation_id] = feed
                SSE_FEEDS.set(len(self._feeds))
                subscriber = Subscriber(asyncio.Queue(size))
                key = id(subscriber)
                feed.queues[key] = subscriber
                await feed.start()
            else:
                subscriber = Subscriber(asyncio.Queue(size))
                key = id(subscriber)
                feed.queues[key] = subscriber
        SSE_CLIENTS.inc()
        return feed, key, subscriber

    async def unsubscribe(self, feed: ConversationFeed, key: int) -> None:
        SSE_CLIENTS.dec()
        async with self._lock:
            feed.queues.pop(key, None)
            if not feed.queues and self._feeds.get(feed.conversation_id) is feed:
                del self._feeds[feed.conversation_id]
                SSE_FEEDS.set(len(self._feeds))
                if feed.task is not None:
                    feed.task.cancel()

    def watched(self) -> int:
        return len(self._feeds)


FEEDS = Feeds()

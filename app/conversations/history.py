"""Reading a conversation's messages across its window and archive buckets: pages, branches,
single messages and search — the reading half of the message-window engine (`window.py`).

Raw driver, for the reason `window.py` gives: a page of a 20,000-message history is put
together from the window and a few buckets as stored, and only the page's messages are
validated. Filters come from the owner scope.
"""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING

from app.auth.scoping import Scope
from app.conversations.window import RawMessage, archives_of, window_with_seq
from documents.conversation import Conversation, bucket_of


async def archived_messages(
    owner_id: ObjectId, conversation_id: ObjectId, first_bucket: int, last_bucket: int
) -> list[RawMessage]:
    archives = archives_of(owner_id)
    cursor = archives.collection.find(
        archives.filter(
            {
                "conversation_id": conversation_id,
                "bucket": {"$gte": first_bucket, "$lte": last_bucket},
            }
        )
    )
    return [m async for bucket in cursor for m in bucket.get("messages", [])]


def merge(*sources: list[RawMessage]) -> list[RawMessage]:
    """Messages from window and archives, each once (by id), in seq order."""
    by_id: dict[Any, RawMessage] = {}
    for source in sources:
        for message in source:
            by_id.setdefault(message["id"], message)
    return sorted(by_id.values(), key=lambda m: m["seq"])


async def messages_between(raw: dict[str, Any], low: int, high: int) -> list[RawMessage]:
    """Messages with low ≤ seq ≤ high, across window and archives: the buckets are read only
    when the range reaches past the window."""
    archived = raw.get("archived_count", 0)
    window = [m for m in window_with_seq(raw) if low <= m["seq"] <= high]
    older: list[RawMessage] = []
    if low <= archived:
        older = [
            m
            for m in await archived_messages(
                raw["owner_id"], raw["_id"], bucket_of(low), bucket_of(min(high, archived))
            )
            if low <= m["seq"] <= high
        ]
    return merge(window, older)


async def search(
    raw: dict[str, Any], text: str, pattern: str, limit: int, below: int | None
) -> list[RawMessage]:
    """Up to `limit` messages whose content contains `text` (case-insensitively), newest first,
    with seq < `below`: the window first, then the buckets newest first, read only as far as
    the page needs. `pattern` is `text` as a literal regular expression, for the server.

    A message in both places during a roll is taken from the window (archived copies count
    only up to `archived_count`)."""
    wanted = re.compile(re.escape(text), re.IGNORECASE)
    bound = below if below is not None else raw.get("message_count", 0) + 1
    found = [
        m
        for m in reversed(window_with_seq(raw))
        if m["seq"] < bound and wanted.search(m["content"])
    ]
    archived = min(raw.get("archived_count", 0), bound - 1)
    if len(found) >= limit or archived < 1:
        return found[:limit]
    archives = archives_of(raw["owner_id"])
    buckets = archives.collection.find(
        archives.filter(
            {
                "conversation_id": raw["_id"],
                "bucket": {"$lte": bucket_of(archived)},
                "messages.content": {"$regex": pattern, "$options": "i"},
            }
        ),
        sort=[("bucket", DESCENDING)],
        batch_size=20,
    )
    async for bucket in buckets:
        for message in sorted(bucket.get("messages", []), key=lambda m: -m["seq"]):
            if message["seq"] <= archived and wanted.search(message["content"]):
                found.append(message)
        if len(found) >= limit:
            break
    await buckets.close()
    return found[:limit]


async def branch_path(raw: dict[str, Any], target: ObjectId) -> list[RawMessage] | None:
    """Root → `target`, following `parent_id`; None when `target` is not in the conversation.
    Parents always have a lower seq, so archives are read backwards, a batch of buckets at a
    time, only as far as the path goes."""
    known = {m["id"]: m for m in window_with_seq(raw)}
    archived = raw.get("archived_count", 0)
    next_bucket = bucket_of(archived) if archived else -1

    async def load_older() -> bool:
        nonlocal next_bucket
        if next_bucket < 0:
            return False
        first = max(0, next_bucket - 19)
        for message in await archived_messages(raw["owner_id"], raw["_id"], first, next_bucket):
            known.setdefault(message["id"], message)
        next_bucket = first - 1
        return True

    path: list[RawMessage] = []
    current: ObjectId | None = target
    while current is not None:
        while current not in known:
            if not await load_older():
                if not path:
                    return None
                current = None  # a parent outside the conversation ends the path
                break
        if current is None:
            break
        message = known[current]
        path.append(message)
        current = message.get("parent_id")
        if len(path) > raw.get("message_count", 0):
            break  # defensive: a cycle cannot happen through the API
    path.reverse()
    return path


async def archived_message(
    owner_id: ObjectId, conversation_id: ObjectId, message_id: ObjectId
) -> RawMessage | None:
    """One archived message by id, with its seq."""
    archives = archives_of(owner_id)
    bucket = await archives.collection.find_one(
        archives.filter({"conversation_id": conversation_id, "messages.id": message_id})
    )
    if bucket is None:
        return None
    return next((m for m in bucket["messages"] if m["id"] == message_id), None)


async def in_archives(owner_id: ObjectId, where: dict[str, Any]) -> bool:
    archives = archives_of(owner_id)
    return await archives.collection.find_one(archives.filter(where), {"_id": 1}) is not None


def literal_pattern(text: str) -> str:
    """A regular expression that matches `text` literally, valid for PCRE and RE2 alike."""
    return "".join("\\" + ch if ch in "\\.^$|?*+()[]{}-/" else ch for ch in text)


async def containing(owner_id: ObjectId, text: str) -> dict[str, Any]:
    """The condition for conversations whose title or any message (window or archive)
    contains `text`, case-insensitively: the list's literal `q`."""
    pattern = {"$regex": literal_pattern(text), "$options": "i"}
    archives = archives_of(owner_id)
    in_archives = await archives.collection.distinct(
        "conversation_id", archives.filter({"messages.content": pattern})
    )
    return {
        "$or": [{"title": pattern}, {"messages.content": pattern}, {"_id": {"$in": in_archives}}]
    }


async def message_ids(scope: Scope[Conversation], conversation_id: ObjectId) -> tuple[int, set]:
    """The window's revision and the ids of every message, window and archive: what a writer
    that must not add a message twice compares against. (-1, {}) when there is none."""
    return (await message_ids_of(scope, [conversation_id])).get(conversation_id, (-1, set()))


async def message_ids_of(
    scope: Scope[Conversation], conversation_ids: list[ObjectId]
) -> dict[ObjectId, tuple[int, set]]:
    """`message_ids` of several conversations in one read of their windows (and one of the
    archives of those that have some): an import checks a batch of conversations at once."""
    found: dict[ObjectId, tuple[int, set]] = {}
    archived: list[ObjectId] = []
    async for raw in scope.collection.find(
        scope.filter({"_id": {"$in": conversation_ids}}),
        {"revision": 1, "archived_count": 1, "messages.id": 1},
    ):
        found[raw["_id"]] = (raw.get("revision", 0), {m["id"] for m in raw.get("messages", [])})
        if raw.get("archived_count"):
            archived.append(raw["_id"])
    if archived:
        archives = archives_of(scope.owner_id)  # type: ignore[arg-type]
        async for bucket in archives.collection.find(
            archives.filter({"conversation_id": {"$in": archived}}),
            {"conversation_id": 1, "messages.id": 1},
        ):
            found[bucket["conversation_id"]][1].update(m["id"] for m in bucket.get("messages", []))
    return found

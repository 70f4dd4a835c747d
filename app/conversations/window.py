"""The message-window engine: a conversation's embedded window of newest messages and the
archive buckets older messages roll into (`documents/conversation.py` explains the layout).

Raw driver, by design: an append is one findAndModify that asks back only the counters where the
engine can project (`app/engine/`); a roll writes the remaining window in one update guarded by
the window's revision; and a page of a 20,000-message history is assembled from the window and a
few buckets as stored, validated once as the page's messages rather than as whole documents.
Filters still come from the owner scope (`Scope.filter`), never written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from itertools import groupby
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.results import UpdateResult

from app import engine
from app.auth.scoping import Scope, owned
from app.search.text import folded_field
from documents.base import utcnow
from documents.conversation import (
    MESSAGE_OVERHEAD_BYTES,
    WINDOW_KEEP_BYTES,
    WINDOW_KEEP_MESSAGES,
    WINDOW_MAX_BYTES,
    WINDOW_MAX_MESSAGES,
    Conversation,
    ConversationArchive,
    Message,
    bucket_of,
)
from documents.user import User

ROLL_LEASE = timedelta(seconds=30)
EDIT_ATTEMPTS = 5
# What an append reads back: the counters, not the window of messages it just grew.
APPEND_RESULT = {"messages": 0}

RawMessage = dict[str, Any]


def conversations_of(user: User | ObjectId) -> Scope[Conversation]:
    return owned(Conversation, user)


def archives_of(user: User | ObjectId) -> Scope[ConversationArchive]:
    return owned(ConversationArchive, user)


def with_seq(message: RawMessage, seq: int) -> RawMessage:
    return {**message, "seq": seq}


def window_with_seq(raw: dict[str, Any]) -> list[RawMessage]:
    start = raw.get("archived_count", 0)
    return [with_seq(m, start + i + 1) for i, m in enumerate(raw.get("messages", []))]


def as_messages(raw: list[RawMessage]) -> list[Message]:
    return [Message.model_validate(m) for m in raw]


# --- append ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Appended:
    """What an append tells: the message's seq and what the conversation needs next."""

    conversation_id: ObjectId
    seq: int
    untitled: bool
    needs_roll: bool


async def append(
    scope: Scope[Conversation], conversation_id: Any, message: RawMessage, extra: dict[str, Any]
) -> Appended | None:
    """One findAndModify: `$push` the message, `$inc` the count (its seq), touch the times —
    where `extra` (not expired; the parent in the window) holds. None when it does not."""
    now = message["created_at"]
    fields = APPEND_RESULT if engine.profile().find_and_modify_projection else None
    raw = await engine.retrying(
        lambda: scope.collection.find_one_and_update(
            scope.id_filter(conversation_id, extra),
            {
                "$push": {"messages": message},
                "$inc": {"message_count": 1, "window_bytes": message["size"], "revision": 1},
                "$set": {
                    "last_message_at": now,
                    "activity_at": now,
                    "updated_at": now,
                    "current_message_id": message["id"],
                },
            },
            projection=fields,
            return_document=ReturnDocument.AFTER,
        )
    )
    if raw is None:
        return None
    window = raw["message_count"] - raw.get("archived_count", 0)
    return Appended(
        conversation_id=raw["_id"],
        seq=raw["message_count"],
        untitled=raw.get("title") is None,
        needs_roll=window > WINDOW_MAX_MESSAGES or raw.get("window_bytes", 0) > WINDOW_MAX_BYTES,
    )


async def append_many(
    scope: Scope[Conversation],
    conversation_id: ObjectId,
    messages: list[RawMessage],
    *,
    revision: int,
    current: ObjectId | None,
) -> bool:
    """Several messages in one update, guarded by the window's `revision`: of two writers that
    read the same window only one appends (an import adding a later export's messages). The
    caller keeps the batch within the window's bounds and rolls after it."""
    last = max(m["created_at"] for m in messages)
    update: dict[str, Any] = {
        "$push": {"messages": {"$each": messages}},
        "$inc": {
            "message_count": len(messages),
            "window_bytes": sum(m["size"] for m in messages),
            "revision": 1,
        },
        "$max": {"last_message_at": last, "activity_at": last},
        "$set": {"updated_at": utcnow()},
    }
    if current is not None:
        update["$set"]["current_message_id"] = current
    result = await _update_one(
        scope.collection, scope.filter({"_id": conversation_id, "revision": revision}), update
    )
    return result.matched_count == 1


async def set_first_title(
    scope: Scope[Conversation], conversation_id: ObjectId, title: str
) -> None:
    """Title an untitled conversation; a title set meanwhile wins."""
    await _update_one(
        scope.collection,
        scope.filter({"_id": conversation_id, "title": None}),
        {"$set": {"title": title}},
    )


async def _update_one(
    collection: AsyncCollection, filter_: dict[str, Any], update: dict[str, Any]
) -> UpdateResult:
    """One single-document update, retried on a transient answer (which applied nothing)."""
    return await engine.retrying(lambda: collection.update_one(filter_, update))


# --- roll ------------------------------------------------------------------------------------


class RollOutcome(Enum):
    ROLLED = "rolled"  # messages moved into buckets
    NOTHING = "nothing"  # the window is within its keep targets
    BUSY = "busy"  # another request holds the roll lease
    CHANGED = "changed"  # the window changed underneath; read again and retry


@dataclass(frozen=True)
class Roll:
    outcome: RollOutcome
    moved: int = 0


async def roll_window(owner_id: ObjectId, conversation_id: ObjectId) -> Roll:
    """Move the oldest window messages into archive buckets.

    Ordered and idempotent: (1) take a lease so only one roller works on a conversation,
    (2) copy the messages into their buckets (only what a bucket lacks), (3) replace the window
    by what remains and advance `archived_count`, in one update guarded by the window's
    `revision`: an append or edit in between makes it miss, and the roll starts over from a
    fresh read. A crash after (2) leaves copies that readers de-duplicate by id (the window's
    copy wins) and the next roll completes.

    Step (3) sets the remaining window rather than `$pull`ing the moved messages: some engines
    ignore `$pull` conditions on fields of embedded documents (`app/engine/`), and the guarded
    `$set` is just as atomic on MongoDB.
    """
    scope = conversations_of(owner_id)
    now = utcnow()
    free = {"$or": [{"rolling_until": None}, {"rolling_until": {"$lt": now}}]}
    leased = await engine.retrying(
        lambda: scope.collection.find_one_and_update(
            scope.filter({"_id": conversation_id, **free}),
            {"$set": {"rolling_until": now + ROLL_LEASE}},
            return_document=ReturnDocument.AFTER,
        )
    )
    if leased is None:
        return Roll(RollOutcome.BUSY)
    try:
        for _attempt in range(EDIT_ATTEMPTS):
            roll = await _roll_once(scope, leased)
            if roll.outcome is not RollOutcome.CHANGED:
                return roll
            leased = await scope.collection.find_one(scope.filter({"_id": conversation_id}))
            if leased is None:
                return Roll(RollOutcome.NOTHING)
        return Roll(RollOutcome.CHANGED)
    finally:
        await _update_one(
            scope.collection,
            scope.filter({"_id": conversation_id}),
            {"$set": {"rolling_until": None}},
        )


async def _roll_once(scope: Scope[Conversation], raw: dict[str, Any]) -> Roll:
    """One attempt at steps (2) and (3)."""
    messages = raw.get("messages", [])
    archived = raw.get("archived_count", 0)
    moving = 0
    remaining_bytes = raw.get("window_bytes", 0)
    while moving < len(messages) - 1 and (
        len(messages) - moving > WINDOW_KEEP_MESSAGES or remaining_bytes > WINDOW_KEEP_BYTES
    ):
        remaining_bytes -= messages[moving].get("size", 0)
        moving += 1
    if moving == 0:
        return Roll(RollOutcome.NOTHING)
    to_move = [with_seq(m, archived + i + 1) for i, m in enumerate(messages[:moving])]
    for bucket, group in groupby(to_move, key=lambda m: bucket_of(m["seq"])):
        await copy_to_archive(scope.owner_id, raw["_id"], bucket, list(group))
    result = await _update_one(
        scope.collection,
        scope.filter({"_id": raw["_id"], "revision": raw.get("revision", 0)}),
        {
            "$set": {"messages": messages[moving:], "window_bytes": remaining_bytes},
            "$inc": {"archived_count": moving, "revision": 1},
        },
    )
    return Roll(RollOutcome.ROLLED, moving) if result.matched_count else Roll(RollOutcome.CHANGED)


async def copy_to_archive(
    owner_id: ObjectId, conversation_id: ObjectId, bucket: int, messages: list[RawMessage]
) -> None:
    """Step (2) of a roll: the bucket ends up holding each of `messages` exactly once."""
    archives = archives_of(owner_id)
    key = archives.filter({"conversation_id": conversation_id, "bucket": bucket})
    for _attempt in range(3):
        existing = await archives.collection.find_one(key)
        if existing is None:
            now = utcnow()
            row = {**key, "messages": messages, "created_at": now, "updated_at": now}
            if await engine.insert_row_unless_exists(archives.collection, row):
                return
            continue  # created concurrently: read it and add what it lacks
        present = {m["id"]: i for i, m in enumerate(existing.get("messages", []))}
        missing = [m for m in messages if m["id"] not in present]
        if missing:
            await _update_one(
                archives.collection,
                key,
                {"$push": {"messages": {"$each": missing}}, "$set": {"updated_at": utcnow()}},
            )
        # A copy made before an edit of the window's message is brought up to date.
        for message in messages:
            index = present.get(message["id"])
            if index is not None and existing["messages"][index] != message:
                await _update_one(
                    archives.collection,
                    {**key, f"messages.{index}.id": message["id"]},
                    {"$set": {f"messages.{index}": message}},
                )
        return


async def copy_history(
    owner_id: ObjectId, conversation_id: ObjectId, messages: list[RawMessage]
) -> None:
    """Older messages of a new conversation (a fork, an import) straight into their buckets:
    one read of the buckets that exist and one `insert_many` of the others (a 10,000-message
    import is 1,000 buckets); a bucket that exists, or that a racer inserted first, gets what
    it lacks as a roll's copy would."""
    archives = archives_of(owner_id)
    groups = {
        bucket: list(group)
        for bucket, group in groupby(messages, key=lambda m: bucket_of(m["seq"]))
    }
    if not groups:
        return
    existing = {
        raw["bucket"]
        async for raw in archives.collection.find(
            archives.filter({"conversation_id": conversation_id}), {"bucket": 1}
        )
    }
    now = utcnow()
    fresh = [bucket for bucket in groups if bucket not in existing]
    rows = [
        {
            **archives.filter({"conversation_id": conversation_id, "bucket": bucket}),
            "messages": groups[bucket],
            "created_at": now,
            "updated_at": now,
        }
        for bucket in fresh
    ]
    refused = await engine.insert_rows_unless_exist(
        archives.collection, rows, unique_key=("owner_id", "conversation_id", "bucket")
    )
    merge = sorted(existing & groups.keys()) + [fresh[i] for i in sorted(refused)]
    for bucket in merge:
        await copy_to_archive(owner_id, conversation_id, bucket, groups[bucket])


# --- reading ------------------------------------------------------------------------------


async def read_conversation(scope: Scope[Conversation], conversation_id: Any) -> dict[str, Any]:
    raw = await scope.collection.find_one(scope.id_filter(conversation_id))
    if raw is None:
        raise scope.not_found()
    return raw


# --- edits -----------------------------------------------------------------------------------


def _new_content(
    path: str, content: str, now: datetime, *, in_window: bool = True
) -> dict[str, Any]:
    """The update that gives the message at `path` new content: its edit time, its folded
    text for the search (or none), and in the window its size and the conversation's time."""
    update: dict[str, Any] = {"$set": {f"{path}.content": content, f"{path}.edited_at": now}}
    folded = folded_field(content)
    if folded is None:
        update["$unset"] = {f"{path}.folded": ""}
    else:
        update["$set"][f"{path}.folded"] = folded
    if in_window:
        update["$set"][f"{path}.size"] = len(content.encode()) + MESSAGE_OVERHEAD_BYTES
        update["$set"]["updated_at"] = now
    return update


async def edit_in_window(
    scope: Scope[Conversation], conversation_id: Any, target: ObjectId, content: str, now: datetime
) -> tuple[dict[str, Any], RawMessage | None] | None:
    """Edit the window's copy of `target`, addressed by its index with its id in the filter as
    a guard (the positional `$` is not on every engine, `app/engine/`). (conversation, edited
    message or None when it is not in the window); None when a roll moved it meanwhile."""
    raw = await read_conversation(scope, conversation_id)
    messages = raw.get("messages", [])
    index = next((i for i, m in enumerate(messages) if m["id"] == target), None)
    if index is None:
        return raw, None
    result = await _update_one(
        scope.collection,
        scope.filter({"_id": raw["_id"], f"messages.{index}.id": target}),
        {
            **_new_content(f"messages.{index}", content, now),
            "$inc": {"revision": 1},
        },
    )
    if result.matched_count == 0:
        return None
    seq = raw.get("archived_count", 0) + index + 1
    return raw, {**with_seq(messages[index], seq), "content": content, "edited_at": now}


async def edit_in_archive(
    owner_id: ObjectId, conversation_id: ObjectId, target: ObjectId, content: str, now: datetime
) -> RawMessage | None:
    archives = archives_of(owner_id)
    for _attempt in range(EDIT_ATTEMPTS):
        bucket = await archives.collection.find_one(
            archives.filter({"conversation_id": conversation_id, "messages.id": target})
        )
        if bucket is None:
            return None
        index = next(i for i, m in enumerate(bucket["messages"]) if m["id"] == target)
        result = await _update_one(
            archives.collection,
            archives.filter({"_id": bucket["_id"], f"messages.{index}.id": target}),
            _new_content(f"messages.{index}", content, now, in_window=False),
        )
        if result.matched_count:
            return {**bucket["messages"][index], "content": content, "edited_at": now}
    return None

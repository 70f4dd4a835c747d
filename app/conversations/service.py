"""Conversations and their messages: atomic appends, the bounded window and its archives,
paging, search, branches, forks, bulk actions and expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import OperationFailure

from app.auth.scoping import Scope, owned, parse_object_id
from app.conversations.schemas import (
    BulkRequest,
    ConversationCreate,
    ConversationPatch,
    MessageCreate,
)
from app.engine import is_unique_violation
from app.errors import Gone, NotFound, Unprocessable
from app.links import require_owned_links
from app.pagination import after_cursor, page_of
from app.usage.service import record_usage_event
from documents.base import day_of, utcnow
from documents.conversation import (
    MESSAGE_OVERHEAD_BYTES,
    WINDOW_KEEP_BYTES,
    WINDOW_KEEP_MESSAGES,
    WINDOW_MAX_BYTES,
    WINDOW_MAX_MESSAGES,
    Conversation,
    ConversationArchive,
    bucket_of,
)
from documents.user import User

WITHOUT_MESSAGES = {"messages": 0}
ROLL_LEASE = timedelta(seconds=30)
ORPHAN_GRACE = timedelta(hours=1)
TITLE_LENGTH = 60
EDIT_ATTEMPTS = 5


def conversations_of(user: User | ObjectId) -> Scope[Conversation]:
    return owned(Conversation, user)


def archives_of(user: User | ObjectId) -> Scope[ConversationArchive]:
    return owned(ConversationArchive, user)


def title_from(content: str) -> str:
    """About 60 characters of the first user message, cut at a word boundary."""
    text = " ".join(content.split())
    if len(text) <= TITLE_LENGTH:
        return text
    cut = text[: TITLE_LENGTH + 1].rsplit(" ", 1)[0]
    if len(cut) < TITLE_LENGTH // 2:  # one very long word: cut inside it
        cut = text[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:-") + "…"


def literal_pattern(text: str) -> str:
    """A regular expression that matches `text` literally, valid for PCRE and RE2 alike."""
    return "".join("\\" + ch if ch in "\\.^$|?*+()[]{}-/" else ch for ch in text)


def _message_out(message: dict[str, Any], seq: int) -> dict[str, Any]:
    return {**message, "seq": seq}


def _window_with_seq(raw: dict[str, Any]) -> list[dict[str, Any]]:
    start = raw.get("archived_count", 0)
    return [_message_out(m, start + i + 1) for i, m in enumerate(raw.get("messages", []))]


# --- conversations ---------------------------------------------------------------------------


async def create_conversation(user: User, body: ConversationCreate) -> dict[str, Any]:
    links = await require_owned_links(user, project_id=body.project_id, site_id=body.site_id)
    now = utcnow()
    conversation = conversations_of(user).new(
        title=body.title,
        context=body.context,
        metadata=body.metadata,
        expires_at=body.expires_at,
        activity_at=now,
        created_at=now,
        updated_at=now,
        **links,
    )
    await conversation.insert()
    return conversation.model_dump(exclude={"messages"})


async def get_conversation(user: User, conversation_id: str) -> dict[str, Any]:
    return await conversations_of(user).get_raw(conversation_id, WITHOUT_MESSAGES)


async def list_conversations(
    user: User,
    *,
    q: str | None,
    project_id: str | None,
    archived: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    scope = conversations_of(user)
    conditions: list[dict[str, Any]] = [{"archived": True} if archived else {"archived": False}]
    if project_id is not None:
        conditions.append({"project_id": parse_object_id(project_id)})
    if q:
        pattern = {"$regex": literal_pattern(q), "$options": "i"}
        in_archives = await archives_of(user).collection.distinct(
            "conversation_id", archives_of(user).filter({"messages.content": pattern})
        )
        conditions.append(
            {
                "$or": [
                    {"title": pattern},
                    {"messages.content": pattern},
                    {"_id": {"$in": in_archives}},
                ]
            }
        )
    if cursor:
        conditions.append(after_cursor("activity_at", cursor))
    rows = (
        await scope.collection.find(scope.filter({"$and": conditions}), WITHOUT_MESSAGES)
        .sort([("activity_at", -1), ("_id", -1)])
        .limit(limit + 1)
        .to_list()
    )
    return page_of(rows, limit, "activity_at")


async def update_conversation(
    user: User, conversation_id: str, patch: ConversationPatch
) -> dict[str, Any]:
    changes = patch.model_dump(exclude_unset=True)
    changes["updated_at"] = utcnow()
    scope = conversations_of(user)
    updated = await scope.find_one_and_update(conversation_id, {"$set": changes})
    if updated is None:
        raise NotFound("No such conversation.")
    updated.pop("messages", None)
    return updated


async def delete_conversation(user: User, conversation_id: str) -> None:
    """The conversation first (what the user sees), then its archives; `cleanup` removes any
    archives a crash in between leaves behind."""
    oid = parse_object_id(conversation_id)
    if oid is None or not await conversations_of(user).delete_one(oid):
        raise NotFound("No such conversation.")
    await archives_of(user).delete_many({"conversation_id": oid})


async def bulk_action(user: User, body: BulkRequest) -> int:
    ids = [ObjectId(value) for value in dict.fromkeys(body.ids)]
    scope = conversations_of(user)
    if body.action in ("archive", "unarchive"):
        return await scope.update_many(
            {"_id": {"$in": ids}},
            {"$set": {"archived": body.action == "archive", "updated_at": utcnow()}},
        )
    mine = [
        raw["_id"]
        async for raw in scope.collection.find(scope.filter({"_id": {"$in": ids}}), {"_id": 1})
    ]
    if not mine:
        return 0
    done = await scope.delete_many({"_id": {"$in": mine}})
    await archives_of(user).delete_many({"conversation_id": {"$in": mine}})
    return done


# --- messages --------------------------------------------------------------------------------


def _new_message(body: MessageCreate, now: datetime) -> dict[str, Any]:
    usage = None
    if body.usage is not None:
        usage = {
            "prompt_tokens": body.usage.prompt_tokens,
            "completion_tokens": body.usage.completion_tokens,
            "total_tokens": body.usage.prompt_tokens + body.usage.completion_tokens,
        }
    message = {
        "id": ObjectId(),
        "role": body.role,
        "content": body.content,
        "type": body.type,
        "parent_id": ObjectId(body.parent_id) if body.parent_id else None,
        "model": body.model,
        "usage": usage,
        "site_version": body.site_version,
        "created_at": now,
        "day": day_of(now),
        "size": len(body.content.encode()) + MESSAGE_OVERHEAD_BYTES,
    }
    # Absent rather than null: 20,000 messages of nulls add up, and readers default them.
    return {key: value for key, value in message.items() if value is not None}


# What an append reads back: the counters, not the window of messages it just grew.
APPEND_RESULT = {"messages": 0}


async def append_message(user: User, conversation_id: str, body: MessageCreate) -> dict[str, Any]:
    """One findAndModify: `$push` the message, `$inc` the count (its seq), touch the times.

    The filter carries the checks (not expired; the parent is in the window), so the common
    case is a single command; a miss is explained by a read afterwards.
    """
    scope = conversations_of(user)
    now = utcnow()
    message = _new_message(body, now)
    live = {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}
    update = {
        "$push": {"messages": message},
        "$inc": {"message_count": 1, "window_bytes": message["size"], "revision": 1},
        "$set": {"last_message_at": now, "activity_at": now, "updated_at": now},
    }
    extra = dict(live)
    parent_id = message.get("parent_id")
    if parent_id is not None:
        extra["messages.id"] = parent_id
    raw = await scope.find_one_and_update(
        conversation_id, update, extra=extra, projection=APPEND_RESULT
    )
    if raw is None:
        await _explain_failed_append(user, conversation_id, parent_id, now)
        # The parent is archived (it exists for good): append without the window check.
        raw = await scope.find_one_and_update(
            conversation_id, update, extra=live, projection=APPEND_RESULT
        )
        if raw is None:
            await _explain_failed_append(user, conversation_id, None, now)
            raise NotFound("No such conversation.")
    seq = raw["message_count"]
    if raw.get("title") is None and body.role == "user":
        await scope.collection.update_one(
            {"_id": raw["_id"], "owner_id": scope.owner_id, "title": None},
            {"$set": {"title": title_from(body.content)}},
        )
    if body.usage is not None:
        await _record_message_usage(scope.owner_id, raw["_id"], message, body.model)
    window = raw["message_count"] - raw.get("archived_count", 0)
    if window > WINDOW_MAX_MESSAGES or raw.get("window_bytes", 0) > WINDOW_MAX_BYTES:
        await roll_window(scope.owner_id, raw["_id"])
    return _message_out(message, seq)


async def _record_message_usage(
    owner_id: ObjectId, conversation_id: ObjectId, message: dict[str, Any], model: str | None
) -> None:
    """A message that carries token usage is one usage event, keyed `message:<id>` so that it is
    counted once (README: Usage and analytics)."""
    usage = message["usage"]
    await record_usage_event(
        owner_id,
        {
            "request_id": f"message:{message['id']}",
            "provider": "unspecified",
            "model": model or "unspecified",
            "operation": "chat",
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "source": "message",
            "conversation_id": conversation_id,
            "occurred_at": message["created_at"],
        },
    )


async def _explain_failed_append(
    user: User, conversation_id: str, parent_id: ObjectId | None, now: datetime
) -> None:
    """Raise the error that made the append's filter miss; return if the parent is archived."""
    raw = await conversations_of(user).get_raw(conversation_id, {"expires_at": 1})
    expires_at = raw.get("expires_at")
    if expires_at is not None and expires_at <= now:
        raise Gone("This conversation has expired.")
    if parent_id is not None:
        archived = await archives_of(user).collection.find_one(
            archives_of(user).filter({"conversation_id": raw["_id"], "messages.id": parent_id}),
            {"_id": 1},
        )
        if archived is not None:
            return
        raise Unprocessable(
            "`parent_id` does not name a message of this conversation.", field="body.parent_id"
        )


async def roll_window(owner_id: ObjectId, conversation_id: ObjectId) -> int:
    """Move the oldest window messages into archive buckets; returns how many moved.

    Ordered and idempotent: (1) take a lease so only one roller works on a conversation,
    (2) copy the messages into their buckets (upsert; only what the bucket lacks), (3) replace
    the window by what remains and advance `archived_count`, in one update guarded by the
    window's `revision`: an append or edit in between makes it miss, and the roll starts over
    from a fresh read. A crash after (2) leaves copies that readers de-duplicate by id (the
    window's copy wins) and the next roll completes.

    Step (3) sets the remaining window rather than `$pull`ing the moved messages: some engines
    ignore `$pull` conditions on fields of embedded documents (`app/engine.py`), and the guarded
    `$set` is just as atomic on MongoDB.
    """
    scope = conversations_of(owner_id)
    now = utcnow()
    leased = await scope.collection.find_one_and_update(
        {
            "_id": conversation_id,
            "owner_id": owner_id,
            "$or": [{"rolling_until": None}, {"rolling_until": {"$lt": now}}],
        },
        {"$set": {"rolling_until": now + ROLL_LEASE}},
        return_document=ReturnDocument.AFTER,
    )
    if leased is None:
        return 0  # another request is rolling this conversation
    moved = 0
    try:
        for _attempt in range(EDIT_ATTEMPTS):
            moved = await _roll_once(scope, leased)
            if moved >= 0:
                return moved
            leased = await scope.collection.find_one({"_id": conversation_id, "owner_id": owner_id})
            if leased is None:
                return 0
        return 0
    finally:
        await scope.collection.update_one(
            {"_id": conversation_id, "owner_id": owner_id}, {"$set": {"rolling_until": None}}
        )


async def _roll_once(scope: Scope[Conversation], raw: dict[str, Any]) -> int:
    """One attempt at steps (2) and (3); -1 when the window changed underneath."""
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
        return 0
    to_move = [_message_out(m, archived + i + 1) for i, m in enumerate(messages[:moving])]
    for bucket, group in groupby(to_move, key=lambda m: bucket_of(m["seq"])):
        await copy_to_archive(scope.owner_id, raw["_id"], bucket, list(group))
    result = await scope.collection.update_one(
        {"_id": raw["_id"], "owner_id": scope.owner_id, "revision": raw.get("revision", 0)},
        {
            "$set": {"messages": messages[moving:], "window_bytes": remaining_bytes},
            "$inc": {"archived_count": moving, "revision": 1},
        },
    )
    return moving if result.matched_count else -1


async def copy_to_archive(
    owner_id: ObjectId, conversation_id: ObjectId, bucket: int, messages: list[dict[str, Any]]
) -> None:
    """Step (2) of a roll: the bucket ends up holding each of `messages` exactly once."""
    archives = archives_of(owner_id)
    key = archives.filter({"conversation_id": conversation_id, "bucket": bucket})
    for _attempt in range(3):
        existing = await archives.collection.find_one(key)
        if existing is None:
            now = utcnow()
            document = {
                **key,
                "messages": messages,
                "created_at": now,
                "updated_at": now,
            }
            try:
                await archives.collection.insert_one(document)
                return
            except OperationFailure as exc:
                if not is_unique_violation(exc):
                    raise
                continue  # created concurrently: read it and add what it lacks
        present = {m["id"]: i for i, m in enumerate(existing.get("messages", []))}
        missing = [m for m in messages if m["id"] not in present]
        if missing:
            await archives.collection.update_one(
                key, {"$push": {"messages": {"$each": missing}}, "$set": {"updated_at": utcnow()}}
            )
        # A copy made before an edit of the window's message is brought up to date.
        for message in messages:
            index = present.get(message["id"])
            if index is not None and existing["messages"][index] != message:
                await archives.collection.update_one(
                    {**key, f"messages.{index}.id": message["id"]},
                    {"$set": {f"messages.{index}": message}},
                )
        return


async def _archived_messages(
    owner_id: ObjectId, conversation_id: ObjectId, first_bucket: int, last_bucket: int
) -> list[dict[str, Any]]:
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


def _merge(*sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages from window and archives, each once (by id), in seq order."""
    by_id: dict[Any, dict[str, Any]] = {}
    for source in sources:
        for message in source:
            by_id.setdefault(message["id"], message)
    return sorted(by_id.values(), key=lambda m: m["seq"])


async def list_messages(
    user: User, conversation_id: str, *, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The latest `limit` messages before seq `before`, in seq order, across window and
    archives: one read of the conversation, plus one of the buckets when the page reaches
    past the window."""
    raw = await conversations_of(user).get_raw(conversation_id)
    count = raw.get("message_count", 0)
    archived = raw.get("archived_count", 0)
    high = count if before is None else min(before - 1, count)
    if high < 1:
        return [], None
    low = max(1, high - limit + 1)
    window = [m for m in _window_with_seq(raw) if low <= m["seq"] <= high]
    older: list[dict[str, Any]] = []
    if low <= archived:
        older = [
            m
            for m in await _archived_messages(
                raw["owner_id"], raw["_id"], bucket_of(low), bucket_of(min(high, archived))
            )
            if low <= m["seq"] <= high
        ]
    items = _merge(window, older)
    return items, (str(low) if low > 1 else None)


async def edit_message(
    user: User, conversation_id: str, message_id: str, content: str
) -> dict[str, Any]:
    """Address the message by its index with its id in the filter as a guard (the positional
    `$` is not on every engine, `app/engine.py`); retry when a roll moved it. Every copy is
    edited: the window's and, for an archived message, its bucket's."""
    target = parse_object_id(message_id)
    if target is None:
        raise NotFound("No such message.")
    scope = conversations_of(user)
    now = utcnow()
    for _attempt in range(EDIT_ATTEMPTS):
        raw = await scope.get_raw(conversation_id)
        messages = raw.get("messages", [])
        index = next((i for i, m in enumerate(messages) if m["id"] == target), None)
        edited_in_window = None
        if index is not None:
            result = await scope.collection.update_one(
                {"_id": raw["_id"], "owner_id": scope.owner_id, f"messages.{index}.id": target},
                {
                    "$set": {
                        f"messages.{index}.content": content,
                        f"messages.{index}.edited_at": now,
                        f"messages.{index}.size": len(content.encode()) + MESSAGE_OVERHEAD_BYTES,
                        "updated_at": now,
                    },
                    "$inc": {"revision": 1},
                },
            )
            if result.matched_count == 0:
                continue  # a roll moved it between our read and write
            edited_in_window = {
                **_message_out(messages[index], raw.get("archived_count", 0) + index + 1),
                "content": content,
                "edited_at": now,
            }
        edited_in_archive = await _edit_archived(scope.owner_id, raw["_id"], target, content, now)
        if edited_in_window or edited_in_archive:
            return edited_in_window or edited_in_archive  # type: ignore[return-value]
        raise NotFound("No such message.")
    raise NotFound("The message kept moving; try again.")


async def _edit_archived(
    owner_id: ObjectId, conversation_id: ObjectId, target: ObjectId, content: str, now: datetime
) -> dict[str, Any] | None:
    archives = archives_of(owner_id)
    for _attempt in range(EDIT_ATTEMPTS):
        bucket = await archives.collection.find_one(
            archives.filter({"conversation_id": conversation_id, "messages.id": target})
        )
        if bucket is None:
            return None
        index = next(i for i, m in enumerate(bucket["messages"]) if m["id"] == target)
        result = await archives.collection.update_one(
            {"_id": bucket["_id"], f"messages.{index}.id": target},
            {"$set": {f"messages.{index}.content": content, f"messages.{index}.edited_at": now}},
        )
        if result.matched_count:
            return {**bucket["messages"][index], "content": content, "edited_at": now}
    return None


async def branch_messages(
    user: User, conversation_id: str, message_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Root → message, following `parent_id`. Parents always have a lower seq, so archives are
    read backwards, a batch of buckets at a time, only as far as the path goes."""
    target = parse_object_id(message_id)
    if target is None:
        raise NotFound("No such message.")
    raw = await conversations_of(user).get_raw(conversation_id)
    known = {m["id"]: m for m in _window_with_seq(raw)}
    archived = raw.get("archived_count", 0)
    next_bucket = bucket_of(archived) if archived else -1

    async def load_older() -> bool:
        nonlocal next_bucket
        if next_bucket < 0:
            return False
        first = max(0, next_bucket - 19)
        for message in await _archived_messages(raw["owner_id"], raw["_id"], first, next_bucket):
            known.setdefault(message["id"], message)
        next_bucket = first - 1
        return True

    path: list[dict[str, Any]] = []
    current: ObjectId | None = target
    while current is not None:
        while current not in known:
            if not await load_older():
                if not path:
                    raise NotFound("No such message.")
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
    return raw, path


async def fork_conversation(user: User, conversation_id: str, message_id: str) -> dict[str, Any]:
    """A new conversation holding the branch up to `message_id`: new ids, the same parent shape.
    The older part goes straight into archive buckets (first), then the conversation document
    is inserted; a crash in between leaves only orphan buckets, which `cleanup` removes."""
    source, path = await branch_messages(user, conversation_id, message_id)
    now = utcnow()
    new_ids = {m["id"]: ObjectId() for m in path}
    copied = []
    for seq, message in enumerate(path, start=1):
        copy = {k: v for k, v in message.items() if k != "seq"}
        copy["id"] = new_ids[message["id"]]
        parent = new_ids.get(message.get("parent_id"))
        copy.pop("parent_id", None)
        if parent is not None:
            copy["parent_id"] = parent
        copied.append(_message_out(copy, seq))
    keep = min(len(copied), WINDOW_KEEP_MESSAGES)
    older, window = copied[: len(copied) - keep], copied[len(copied) - keep :]
    conversation_oid = ObjectId()
    owner = ObjectId(str(user.id))
    for bucket, group in groupby(older, key=lambda m: bucket_of(m["seq"])):
        await copy_to_archive(owner, conversation_oid, bucket, list(group))
    last_at = path[-1]["created_at"] if path else None
    conversation = conversations_of(user).new(
        id=conversation_oid,
        title=source.get("title"),
        project_id=source.get("project_id"),
        site_id=source.get("site_id"),
        context=source.get("context"),
        metadata=source.get("metadata"),
        forked_from={"conversation_id": source["_id"], "message_id": path[-1]["id"]},
        messages=[{k: v for k, v in m.items() if k != "seq"} for m in window],
        message_count=len(copied),
        archived_count=len(older),
        window_bytes=sum(m.get("size", 0) for m in window),
        last_message_at=last_at,
        activity_at=now,
        created_at=now,
        updated_at=now,
    )
    await conversation.insert()
    return conversation.model_dump(exclude={"messages"})


# --- expiry ----------------------------------------------------------------------------------


async def delete_expired(now: datetime, *, dry_run: bool = False) -> tuple[int, int]:
    """For `cleanup`: conversations past `expires_at` with their archives, and archives whose
    conversation no longer exists. Returns (conversations, archive buckets) deleted."""
    conversations = Conversation.get_pymongo_collection()
    archives = ConversationArchive.get_pymongo_collection()
    expired = [
        raw["_id"] async for raw in conversations.find({"expires_at": {"$lte": now}}, {"_id": 1})
    ]
    # Buckets of a conversation that is gone (a crash between the steps of a delete, or of a
    # fork that never inserted its conversation). Young buckets may belong to a fork under way.
    settled = {"created_at": {"$lt": now - ORPHAN_GRACE}}
    archived_ids = await archives.distinct("conversation_id", settled)
    live_ids = set(await conversations.distinct("_id", {"_id": {"$in": archived_ids}}))
    orphaned = [cid for cid in archived_ids if cid not in live_ids]
    doomed = list(set(expired) | set(orphaned))
    buckets = await archives.count_documents({"conversation_id": {"$in": doomed}})
    if not dry_run:
        if expired:
            await conversations.delete_many({"_id": {"$in": expired}, "expires_at": {"$lte": now}})
        if doomed:
            await archives.delete_many({"conversation_id": {"$in": doomed}})
    return len(expired), buckets


async def message_exists(
    user: User | ObjectId, message_id: ObjectId, conversation_id: ObjectId | None = None
) -> bool:
    """Whether `message_id` is a message of one of the caller's conversations (of
    `conversation_id`, when given), in a window or an archive."""
    where: dict[str, Any] = {"messages.id": message_id}
    conversations = conversations_of(user)
    if conversation_id is not None:
        where["_id"] = conversation_id
    if await conversations.collection.find_one(conversations.filter(where), {"_id": 1}):
        return True
    archives = archives_of(user)
    where.pop("_id", None)
    if conversation_id is not None:
        where["conversation_id"] = conversation_id
    return await archives.collection.find_one(archives.filter(where), {"_id": 1}) is not None

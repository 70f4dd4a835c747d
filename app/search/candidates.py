"""What the database narrows a search to: the caller's documents that may hold a match.

Raw driver, for the reason `app/conversations/window.py` gives: a conversation's window and
archive buckets are read as stored, with only the fields a hit needs, and only the messages
that match are turned into hits. Filters come from the owner scope, so trashed items and other
users' documents are never candidates.

Where the engine has text indexes (`app/engine/`), messages are narrowed by `$text` on the
query's whole words (any of them: a superset of what matches all the terms), matched against
the messages' text and their folded text (`app/search/text.py`); otherwise, and for queries
without whole words (a prefix alone, Chinese), by regular expressions the server evaluates over
the caller's documents. Either way at most `SCAN_LIMIT` documents per collection, newest first,
are read: `truncated` says when the bound was reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING

from app import engine
from app.auth.scoping import Scope
from app.conversations.window import archives_of, conversations_of
from app.search.text import Query, server_pattern
from documents.user import User

SCAN_LIMIT = 2000

MESSAGE_FIELDS = ("id", "parent_id", "content", "role", "created_at")
CONVERSATION_FIELDS = {
    "title": 1,
    "owner_id": 1,
    "created_at": 1,
    "updated_at": 1,
    "activity_at": 1,
    "archived_count": 1,
    "message_count": 1,
    "current_message_id": 1,
    "folder_id": 1,
    "tags": 1,
    "pinned": 1,
}


@dataclass
class Candidates:
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


def _regex_all(fields: tuple[str, ...], query: Query) -> dict[str, Any]:
    """Every needle of the query somewhere in one of `fields` (diacritic- and case-blind)."""
    return {
        "$and": [
            {"$or": [{f: {"$regex": server_pattern(n), "$options": "i"}} for f in fields]}
            for n in query.needles
        ]
    }


def message_condition(query: Query) -> dict[str, Any]:
    anchors = query.anchors
    if engine.profile().text_index and anchors:
        return {"$text": {"$search": " ".join(anchors)}}
    return _regex_all(("messages.content",), query)


async def _read(
    scope: Scope[Any],
    where: dict[str, Any],
    projection: dict[str, Any],
    sort: list[tuple[str, int]],
) -> Candidates:
    cursor = scope.collection.find(
        scope.filter(where), projection, sort=sort, limit=SCAN_LIMIT + 1, batch_size=200
    )
    rows = await cursor.to_list()
    return Candidates(rows=rows[:SCAN_LIMIT], truncated=len(rows) > SCAN_LIMIT)


async def titled(
    scope: Scope[Any], title_field: str, query: Query, extra: dict[str, Any], recency: str
) -> Candidates:
    """Items whose title (or file name) may match."""
    projection = {
        title_field: 1,
        "created_at": 1,
        "updated_at": 1,
        recency: 1,
        "folder_id": 1,
        "tags": 1,
        "pinned": 1,
    }
    where = {**extra, **_regex_all((title_field,), query)}
    return await _read(scope, where, projection, [(recency, DESCENDING), ("_id", DESCENDING)])


async def listed(
    scope: Scope[Any], title_field: str, where: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` items as a folder lists them: pinned first, then newest."""
    cursor = scope.collection.find(
        scope.filter(where),
        {title_field: 1, "created_at": 1, "updated_at": 1, "folder_id": 1, "tags": 1, "pinned": 1},
        sort=[("pinned", DESCENDING), ("_id", DESCENDING)],
        limit=limit,
    )
    return await cursor.to_list()


async def windows(user: User, query: Query, extra: dict[str, Any]) -> Candidates:
    """Conversations whose window may hold a matching message, with their window."""
    projection = {**CONVERSATION_FIELDS, **{f"messages.{f}": 1 for f in MESSAGE_FIELDS}}
    where = {**extra, **message_condition(query)}  # `$text` at the top level, for MongoDB
    newest = [("activity_at", DESCENDING), ("_id", DESCENDING)]
    return await _read(conversations_of(user), where, projection, newest)


async def buckets(user: User, query: Query) -> Candidates:
    """Archive buckets that may hold a matching message."""
    projection = {
        "conversation_id": 1,
        "bucket": 1,
        "messages.seq": 1,
        **{f"messages.{f}": 1 for f in MESSAGE_FIELDS},
    }
    return await _read(
        archives_of(user), message_condition(query), projection, [("_id", DESCENDING)]
    )


async def conversations(
    user: User, ids: list[ObjectId], extra: dict[str, Any]
) -> dict[ObjectId, dict[str, Any]]:
    """The live conversations (not trashed, within the filters) among `ids`, without messages."""
    if not ids:
        return {}
    scope = conversations_of(user)
    where = {"_id": {"$in": ids}, **extra}
    cursor = scope.collection.find(scope.filter(where), CONVERSATION_FIELDS)
    return {row["_id"]: row async for row in cursor}


async def with_window_tree(
    user: User | ObjectId, conversation_id: ObjectId
) -> dict[str, Any] | None:
    """A conversation with its window's ids and parents only: what a branch path is walked on."""
    scope = conversations_of(user)
    return await scope.collection.find_one(
        scope.filter({"_id": conversation_id}),
        {**CONVERSATION_FIELDS, "messages.id": 1, "messages.parent_id": 1},
    )

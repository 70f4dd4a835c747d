"""Search across a user's conversations, messages (window and archive, every branch), sites and
files: the database narrows (`candidates.py`), `text.py` decides and scores, and this module
ranks (relevance, then recency), pages with the one cursor and says where each message hit
sits in its conversation's tree.

Nothing is copied into a second index: a search reads the documents the writes wrote, so an
appended or edited message is found (and its old text no longer is) by the very next search.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.conversations import history
from app.conversations.window import window_with_seq
from app.errors import Unprocessable
from app.folders.placement import ITEMS, items_of, placement_filter
from app.pagination import CursorParams, decode_cursor, encode_cursor
from app.search import candidates
from app.search.hits import Found, add_message_hit, cursor_key, shown, title_hits
from app.search.schemas import Hit, HitPage
from app.search.text import Query, parse
from documents.user import User


def parse_or_422(q: str) -> Query:
    query = parse(q)
    if query is None:
        raise Unprocessable("`q` has no words to search for.", field="query.q")
    return query


async def search(
    user: User,
    q: str,
    params: CursorParams,
    *,
    kind: str | None = None,
    folder_id: str | None = None,
    tag: str | None = None,
) -> HitPage:
    query = parse_or_422(q)
    where = placement_filter(folder_id=folder_id, tag=tag)
    found: list[Found] = []
    truncated = False
    for item_kind, info in ITEMS.items():
        if kind in (None, item_kind):
            rows = await candidates.titled(
                items_of(item_kind, user),
                info.title_field,
                query,
                {**info.extra, **where},
                info.recency_field,
            )
            truncated |= rows.truncated
            found.extend(title_hits(item_kind, rows.rows, query))
    if kind in (None, "messages"):
        messages, cut = await _message_hits(user, query, {**ITEMS["conversations"].extra, **where})
        truncated |= cut
        found.extend(messages)
    return await page_of_hits(found, params, truncated=truncated)


async def page_of_hits(found: list[Found], params: CursorParams, *, truncated: bool) -> HitPage:
    """Hits best first, then newest; the page after `params.cursor`, with its message hits'
    places in their trees."""
    found.sort(key=lambda f: f.key, reverse=True)
    start = 0
    if params.cursor:
        value, last_id, _ = decode_cursor(params.cursor)
        after = cursor_key(value, last_id)
        start = next((i for i, f in enumerate(found) if f.key < after), len(found))
    page = found[start : start + params.limit]
    more = start + params.limit < len(found)
    await _place_in_trees(page)
    items = [Hit.model_validate(shown(f)) for f in page]
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor(f"{last.score!r}|{last.recency.isoformat()}", last.id)
    return HitPage(items=items, next_cursor=next_cursor, count=len(found), truncated=truncated)


async def _message_hits(
    user: User, query: Query, where: dict[str, Any]
) -> tuple[list[Found], bool]:
    windows = await candidates.windows(user, query, where)
    buckets = await candidates.buckets(user, query)
    hits: dict[ObjectId, Found] = {}
    for raw in windows.rows:
        for message in window_with_seq(raw):
            add_message_hit(hits, query, raw, message)
    outside = list({b["conversation_id"] for b in buckets.rows} - {r["_id"] for r in windows.rows})
    known = {r["_id"]: r for r in windows.rows} | await candidates.conversations(
        user, outside, where
    )
    for bucket in buckets.rows:
        raw = known.get(bucket["conversation_id"])
        if raw is None:
            continue  # trashed, temporary or outside the filters
        for message in bucket.get("messages", []):
            # During a roll a message is in both places: the window's copy counts.
            if message.get("seq", 0) <= raw.get("archived_count", 0):
                add_message_hit(hits, query, raw, message)
    return list(hits.values()), windows.truncated or buckets.truncated


async def _place_in_trees(page: list[Found]) -> None:
    """Each message hit's path from its conversation's root, and whether it is on the branch
    the conversation is on: one walk of each conversation's tree per page."""
    trees: dict[ObjectId, tuple[dict[str, Any], set[ObjectId], bool]] = {}
    for found in page:
        if found.raw_conversation is None:
            continue
        conversation_id = found.raw_conversation["_id"]
        if conversation_id not in trees:
            trees[conversation_id] = await _tree_of(found.raw_conversation)
        raw, current_branch, flat = trees[conversation_id]
        path = await history.branch_path(raw, found.id) or []
        found.hit["branch_path"] = [m["id"] for m in path]
        found.hit["on_current_branch"] = flat or found.id in current_branch


async def _tree_of(conversation: dict[str, Any]) -> tuple[dict[str, Any], set[ObjectId], bool]:
    """(the conversation with its window's ids and parents, the ids on its current branch,
    whether it is flat). A conversation whose current message has no parent was written
    without `parent_id`s: one chain, every message on it."""
    raw = conversation
    if "messages" not in raw:  # found through its archive: read its window's tree
        raw = await candidates.with_window_tree(raw["owner_id"], raw["_id"]) or raw
    current = raw.get("current_message_id")
    path = await history.branch_path(raw, current) if current is not None else None
    if not path:
        return raw, set(), True
    return raw, {m["id"] for m in path}, len(path) == 1

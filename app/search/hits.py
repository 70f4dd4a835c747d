"""Hits as a search builds them before paging: the database row, what matched, the score and
the key they are ranked by (relevance, then recency, then id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.errors import Unprocessable
from app.folders.placement import ITEMS
from app.search.text import Query, highlight, match
from documents.folder import ItemKind

TITLE_WEIGHT = 2.0
HIT_KINDS: dict[ItemKind, str] = {"conversations": "conversation", "sites": "site", "files": "file"}


@dataclass
class Found:
    score: float
    recency: datetime
    id: ObjectId
    hit: dict[str, Any]
    text: str
    spans: list[tuple[int, int]]
    raw_conversation: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[float, datetime, ObjectId]:
        return (self.score, self.recency, self.id)


def cursor_key(value: Any, last_id: ObjectId) -> tuple[float, datetime, ObjectId]:
    try:
        score, moment = str(value).split("|", 1)
        return (float(score), datetime.fromisoformat(moment), last_id)
    except ValueError as exc:
        raise Unprocessable("The cursor is not one this API issued.", field="query.cursor") from exc


def shown(found: Found) -> dict[str, Any]:
    snippet, highlights = highlight(found.text, found.spans) if found.text else (None, [])
    return {**found.hit, "snippet": snippet, "highlights": highlights, "score": found.score}


def _placement(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "folder_id": row.get("folder_id"),
        "tags": row.get("tags") or [],
        "pinned": bool(row.get("pinned")),
    }


def title_hits(kind: ItemKind, rows: list[dict[str, Any]], query: Query) -> list[Found]:
    info = ITEMS[kind]
    hits = []
    for row in rows:
        title = row.get(info.title_field)
        matched = match(query, title, weight=TITLE_WEIGHT)
        if matched is None:
            continue
        hit = {
            "kind": HIT_KINDS[kind],
            "id": row["_id"],
            "title": title,
            "created_at": row["created_at"],
            "updated_at": row.get("updated_at"),
            **_placement(row),
        }
        recency = row.get(info.recency_field) or row["created_at"]
        hits.append(Found(matched.score, recency, row["_id"], hit, title, matched.spans))
    return hits


def add_message_hit(
    hits: dict[ObjectId, Found], query: Query, raw: dict[str, Any], message: dict[str, Any]
) -> None:
    if message["id"] in hits:
        return
    matched = match(query, message.get("content"))
    if matched is None:
        return
    hit = {
        "kind": "message",
        "id": message["id"],
        "title": raw.get("title"),
        "created_at": message["created_at"],
        "updated_at": message.get("edited_at"),
        "conversation_id": raw["_id"],
        "conversation_title": raw.get("title"),
        "message_id": message["id"],
        "role": message.get("role"),
        **_placement(raw),
    }
    hits[message["id"]] = Found(
        matched.score,
        message["created_at"],
        message["id"],
        hit,
        message["content"],
        matched.spans,
        raw_conversation=raw,
    )

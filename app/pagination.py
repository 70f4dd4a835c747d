"""One way to page every list: `?limit=&cursor=` → `Page[T]` `{items, next_cursor}`.

Keyset pagination with opaque cursors, stable while writes happen: a cursor encodes the sort
value and `_id` of the last item returned; the next page asks for items strictly after it, so
inserts and deletes elsewhere never shift or repeat items. Routers depend on `Pagination`;
scopes answer `list_page(params, …)`; every list's response model is `Page[XRead]`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from bson import ObjectId
from fastapi import Depends, Query
from pydantic import BaseModel, Field

from app.errors import Unprocessable

T = TypeVar("T")

MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 500

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Page size (1-100); over 100 is 422")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page"
    )


@dataclass(frozen=True)
class CursorParams:
    limit: int = 20
    cursor: str | None = None


async def cursor_params(
    limit: Annotated[Limit, Query()] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page"),
    ] = None,
) -> CursorParams:
    return CursorParams(limit=limit, cursor=cursor)


Pagination = Annotated[CursorParams, Depends(cursor_params)]


def encode_cursor(value: Any, object_id: ObjectId, pinned: bool | None = None) -> str:
    if isinstance(value, datetime):
        payload = ["d", value.isoformat(), str(object_id)]
    else:
        payload = ["v", value, str(object_id)]
    if pinned is not None:  # a list with its pinned items first
        payload.append(pinned)
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, pinned_first: bool = False) -> tuple[Any, ObjectId, bool]:
    """(sort value, `_id`, whether the item was pinned) of the last item of the previous page."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, value, object_id, *rest = json.loads(base64.urlsafe_b64decode(padded))
        if kind == "d":
            value = datetime.fromisoformat(value)
        elif kind != "v" or not isinstance(value, str | int | float | None):
            raise ValueError(kind)
        if rest != ([rest[0]] if pinned_first and rest and isinstance(rest[0], bool) else []):
            raise ValueError("a cursor of another list")
        return value, ObjectId(object_id), bool(rest and rest[0])
    except Exception as exc:
        raise Unprocessable("The cursor is not one this API issued.", field="query.cursor") from exc


def position_of(cursor: str) -> int:
    """The position (≥ 1) a cursor of a list ordered by position carries: a message's seq, in
    decimal (clients of the messages list have always passed it back as `before` too)."""
    if not (cursor.isascii() and cursor.isdigit()) or not 1 <= int(cursor) <= 2**62:
        raise Unprocessable("The cursor is not one this API issued.", field="query.cursor")
    return int(cursor)


def sort_order(sort_field: str, *, pinned_first: bool = False) -> list[str]:
    """The descending sort of a list, for Beanie: pinned items first where the list has them
    (`pinned` is true or null, `documents/folder.py`)."""
    order = ["-_id"] if sort_field == "_id" else [f"-{sort_field}", "-_id"]
    return ["-pinned", *order] if pinned_first else order


def after_cursor(
    sort_field: str, cursor: str | None, *, pinned_first: bool = False
) -> dict[str, Any]:
    """The filter for items after `cursor` in descending (`sort_field`, `_id`) order, after the
    pinned items first in a list that has them."""
    if not cursor:
        return {}
    value, object_id, pinned = decode_cursor(cursor, pinned_first=pinned_first)
    if sort_field == "_id":
        after: dict[str, Any] = {"_id": {"$lt": object_id}}
    else:
        after = {
            "$or": [
                {sort_field: {"$lt": value}},
                {sort_field: value, "_id": {"$lt": object_id}},
            ]
        }
    if not pinned_first:
        return after
    if pinned:
        return {"$or": [{"$and": [{"pinned": True}, after]}, {"pinned": None}]}
    return {"$and": [{"pinned": None}, after]}


def page_of(
    rows: list[Any], limit: int, sort_field: str, *, pinned_first: bool = False
) -> Page[Any]:
    """The page from `limit + 1` fetched rows (documents or raw dicts), with the next cursor."""
    if len(rows) <= limit:
        return Page(items=rows)
    rows = rows[:limit]
    last = rows[-1]
    raw = isinstance(last, dict)
    last_id = last["_id"] if raw else last.id
    pinned = bool(last.get("pinned") if raw else getattr(last, "pinned", None))
    state = pinned if pinned_first else None
    if sort_field == "_id":
        return Page(items=rows, next_cursor=encode_cursor(str(last_id), last_id, state))
    value = last[sort_field] if raw else getattr(last, sort_field)
    return Page(items=rows, next_cursor=encode_cursor(value, last_id, state))

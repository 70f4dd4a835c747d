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


def encode_cursor(value: Any, object_id: ObjectId) -> str:
    if isinstance(value, datetime):
        payload = ["d", value.isoformat(), str(object_id)]
    else:
        payload = ["v", value, str(object_id)]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, value, object_id = json.loads(base64.urlsafe_b64decode(padded))
        if kind == "d":
            value = datetime.fromisoformat(value)
        elif kind != "v" or not isinstance(value, str | int | float | None):
            raise ValueError(kind)
        return value, ObjectId(object_id)
    except Exception as exc:
        raise Unprocessable("The cursor is not one this API issued.", field="query.cursor") from exc


def position_of(cursor: str) -> int:
    """The position (≥ 1) a cursor of a list ordered by position carries: a message's seq, in
    decimal (clients of the messages list have always passed it back as `before` too)."""
    if not (cursor.isascii() and cursor.isdigit()) or not 1 <= int(cursor) <= 2**62:
        raise Unprocessable("The cursor is not one this API issued.", field="query.cursor")
    return int(cursor)


def after_cursor(sort_field: str, cursor: str | None) -> dict[str, Any]:
    """The filter for items after `cursor` in descending (`sort_field`, `_id`) order."""
    if not cursor:
        return {}
    value, object_id = decode_cursor(cursor)
    if sort_field == "_id":
        return {"_id": {"$lt": object_id}}
    return {
        "$or": [
            {sort_field: {"$lt": value}},
            {sort_field: value, "_id": {"$lt": object_id}},
        ]
    }


def page_of(rows: list[Any], limit: int, sort_field: str) -> Page[Any]:
    """The page from `limit + 1` fetched rows (documents or raw dicts), with the next cursor."""
    if len(rows) <= limit:
        return Page(items=rows)
    rows = rows[:limit]
    last = rows[-1]
    raw = isinstance(last, dict)
    last_id = last["_id"] if raw else last.id
    if sort_field == "_id":
        return Page(items=rows, next_cursor=encode_cursor(str(last_id), last_id))
    value = last[sort_field] if raw else getattr(last, sort_field)
    return Page(items=rows, next_cursor=encode_cursor(value, last_id))

"""Keyset pagination with opaque cursors, stable while writes happen.

A cursor encodes the sort value and `_id` of the last item returned; the next page asks for
items strictly after it, so inserts and deletes elsewhere never shift or repeat items.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.errors import Unprocessable


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


def page_of(rows: list[Any], limit: int, sort_field: str) -> tuple[list[Any], str | None]:
    """Split `limit + 1` fetched rows into the page and the next cursor."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    get = last.get if isinstance(last, dict) else lambda key: getattr(last, key)
    key = "_id" if sort_field == "_id" else sort_field
    last_id = last["_id"] if isinstance(last, dict) else last.id
    value = last_id if key == "_id" else get(key)
    return rows, encode_cursor(str(value) if key == "_id" else value, last_id)

"""Links between a user's objects (a site's conversation, a generation's project, …).

A client-sent id that names another object is checked here: it must be one of the caller's own,
otherwise 422 — the same answer as for an id that does not exist, so nothing leaks.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import owned, parse_object_id
from app.errors import Unprocessable
from documents import LINKABLE
from documents.base import OwnedDocument
from documents.user import User


async def require_owned_links(user: User, **links: Any) -> dict[str, ObjectId | None]:
    """`project_id="…"` → {"project_id": ObjectId(…)} when it is the caller's project."""
    resolved: dict[str, ObjectId | None] = {}
    for field, value in links.items():
        if value is None:
            resolved[field] = None
            continue
        model: type[OwnedDocument] = LINKABLE[field]
        oid = parse_object_id(value)
        if oid is None or not await owned(model, user).exists(oid):
            raise Unprocessable(
                f"`{field}` does not name one of your {model.get_settings().name}.",
                field=f"body.{field}",
            )
        resolved[field] = oid
    return resolved

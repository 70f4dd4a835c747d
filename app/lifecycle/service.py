"""Legal holds and the audit trail.

A hold stops every path that would purge a user's data for good: purging or emptying the trash,
`?permanent=true`, the trash's and temporary chats' expiry, expired conversations, account
deletion and the blob store's garbage collection. Paths a user takes answer 409 (`legal-hold`);
jobs skip the held users and report how many items they skipped. Deletes still move items to
the trash, so the user's own view works; the export works too.

Every administrator's action here and every purge is appended to the audit collection.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId, UpdateResponse
from bson import ObjectId

from app.auth.scoping import owner_id_of, parse_object_id
from app.errors import Conflict, LegalHoldActive, NotFound, Unprocessable
from app.pagination import CursorParams, Page, after_cursor, page_of
from documents.base import utcnow
from documents.lifecycle import AuditEntry, LegalHold
from documents.user import User

ACTIVE = {"released_at": None}


async def is_held(user: User | ObjectId) -> bool:
    return await LegalHold.find_one({"user_id": owner_id_of(user), **ACTIVE}) is not None


async def refuse_if_held(user: User | ObjectId, what: str) -> None:
    """409 for a user's action that would purge data of a held account."""
    if await is_held(user):
        raise LegalHoldActive(f"This account is under a legal hold: {what} is not possible now.")


async def held_users() -> set[ObjectId]:
    """The users a job must skip."""
    return {ObjectId(hold) for hold in await LegalHold.distinct("user_id", ACTIVE)}


async def record(
    action: str,
    *,
    actor: User | ObjectId | None,
    user: User | ObjectId | None,
    **details: Any,
) -> None:
    await AuditEntry(
        action=action,
        actor_id=owner_id_of(actor) if actor is not None else None,
        user_id=owner_id_of(user) if user is not None else None,
        # Ids as strings: the trail is read as JSON, by administrators and their tools.
        details={k: str(v) if isinstance(v, ObjectId) else v for k, v in details.items()},
    ).insert()


async def place_hold(admin: User, user_id: str, reason: str) -> LegalHold:
    oid = parse_object_id(user_id)
    if oid is None or await User.find_one({"_id": oid}) is None:
        raise NotFound("No such user.")
    hold = LegalHold(user_id=oid, reason=reason, created_by=PydanticObjectId(str(admin.id)))
    await hold.insert()
    await record("hold.create", actor=admin, user=oid, hold_id=hold.id, reason=reason)
    return hold


async def release_hold(admin: User, hold_id: str) -> LegalHold:
    """The hold stays, released (one guarded update: of two releases, one wins)."""
    oid = parse_object_id(hold_id)
    released = None
    if oid is not None:
        released = await LegalHold.find_one({"_id": oid, **ACTIVE}).update(
            {"$set": {"released_at": utcnow(), "released_by": PydanticObjectId(str(admin.id))}},
            response_type=UpdateResponse.NEW_DOCUMENT,
        )
    if released is None:
        if oid is not None and await LegalHold.get(oid) is not None:
            raise Conflict("This hold was released already.")
        raise NotFound("No such hold.")
    await record("hold.release", actor=admin, user=released.user_id, hold_id=oid)
    return released


async def list_holds(params: CursorParams, *, user_id: str | None = None) -> Page[LegalHold]:
    return await _page(LegalHold, params, {"user_id": _user_filter(user_id)} if user_id else {})


async def list_audit(
    params: CursorParams, *, action: str | None = None, user_id: str | None = None
) -> Page[AuditEntry]:
    where: dict[str, Any] = {}
    if action:
        where["action"] = action
    if user_id:
        where["user_id"] = _user_filter(user_id)
    return await _page(AuditEntry, params, where)


def _user_filter(user_id: str) -> ObjectId:
    oid = parse_object_id(user_id)
    if oid is None:
        raise Unprocessable("`user_id` is not an id.", field="query.user_id")
    return oid


async def _page(model: Any, params: CursorParams, where: dict[str, Any]) -> Page[Any]:
    """Newest first. Administrators' lists: these records belong to no owner scope."""
    after = after_cursor("_id", params.cursor)
    rows = await model.find({**where, **after}).sort("-_id").limit(params.limit + 1).to_list()
    return page_of(rows, params.limit, "_id")

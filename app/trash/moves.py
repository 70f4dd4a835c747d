"""The two ways a delete goes, for every area's service: into the trash, or (permanent) out
for good, with what goes along, unless the owner is under a legal hold. Here, not in the owner
scope: the scope says whose documents a query may touch, these say what a delete means. (Apart
from `service.py`, which lists the areas' purges: the areas import this module.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope
from app.lifecycle import service as lifecycle
from documents.base import utcnow

Purge = Callable[[ObjectId, ObjectId], Awaitable[None]]


async def discard_or_404(
    scope: Scope[Any], document_id: Any, *, permanent: bool, purge: Purge
) -> None:
    """Into the trash, or (`permanent`) the document and then what `purge` removes with it
    (archives, shares, blob references): 409 while its owner is under a legal hold."""
    if not permanent:
        if not await scope.update_one(document_id, {"$set": {"trashed_at": utcnow()}}):
            raise scope.not_found()
        return
    assert scope.owner_id is not None
    await lifecycle.refuse_if_held(scope.owner_id, "deleting for good")
    oid = scope.id_filter(document_id)["_id"]
    if not await purge_one(scope, oid, purge):
        raise scope.not_found()
    await lifecycle.record(
        "delete.permanent", actor=scope.owner_id, user=scope.owner_id, kind=scope.model.noun, id=oid
    )


async def purge_one(
    scope: Scope[Any], oid: ObjectId, purge: Purge, guard: dict[str, Any] | None = None
) -> bool:
    """Delete one document of `scope` where `guard` still holds, then what goes with it. True
    when this call deleted it: of racing purges (a user's and the expiry's, two processes'),
    exactly one does the rest."""
    if not await scope.delete_many({"_id": oid, **(guard or {})}):
        return False
    assert scope.owner_id is not None
    await purge(scope.owner_id, oid)
    return True

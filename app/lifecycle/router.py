from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from app.auth.dependencies import AdminUser
from app.lifecycle import service
from app.lifecycle.schemas import AuditRead, HoldCreate, HoldRead
from app.openapi import problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter

router = AreaRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/holds",
    operation_id="admin_holds_create",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldRead,
)
async def place_hold(body: HoldCreate, admin: AdminUser):
    """Stop every purge of this user's data until the hold is released."""
    return HoldRead.of(await service.place_hold(admin, body.user_id, body.reason))


@router.get("/holds", operation_id="admin_holds_list", response_model=Page[HoldRead])
async def list_holds(
    _: AdminUser,
    params: Pagination,
    user_id: Annotated[str | None, Query(max_length=24, description="Only this user's")] = None,
):
    page = await service.list_holds(params, user_id=user_id)
    return Page(items=[HoldRead.of(h) for h in page.items], next_cursor=page.next_cursor)


@router.delete(
    "/holds/{hold_id}",
    operation_id="admin_holds_release",
    response_model=HoldRead,
    responses=problems((409, "Released already")),
)
async def release_hold(hold_id: str, admin: AdminUser):
    """Release it: the record stays, with who released it and when."""
    return HoldRead.of(await service.release_hold(admin, hold_id))


@router.get("/audit", operation_id="admin_audit_list", response_model=Page[AuditRead])
async def list_audit(
    _: AdminUser,
    params: Pagination,
    action: Annotated[str | None, Query(max_length=64, description="Only this action")] = None,
    user_id: Annotated[str | None, Query(max_length=24, description="Only about this user")] = None,
):
    """Holds placed and released, and every purge: newest first."""
    page = await service.list_audit(params, action=action, user_id=user_id)
    return Page(
        items=[AuditRead.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )

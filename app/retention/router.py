from __future__ import annotations

from typing import Annotated

from fastapi import Body

from app.auth.dependencies import AdminUser, CurrentUser, require_account_access
from app.retention import service
from app.retention.schemas import (
    RetentionIn,
    RetentionPreview,
    RetentionPreviewItem,
    RetentionRead,
)
from app.routing import AreaRouter
from documents.retention import RetentionRules

router = AreaRouter(tags=["retention"])


@router.get("/admin/retention", operation_id="admin_retention_get", response_model=RetentionRead)
async def get_policy(_: AdminUser):
    policy = await service.get_policy()
    return RetentionRead(**policy.rules.model_dump(), updated_at=policy.updated_at)


@router.put("/admin/retention", operation_id="admin_retention_set", response_model=RetentionRead)
async def set_policy(body: RetentionIn, admin: AdminUser):
    """Maximum ages per kind from last activity, for every account; applied when retention runs
    (`genstore retention apply`, `genstore cleanup`), to everything already stored."""
    policy = await service.set_policy(admin, body)
    return RetentionRead(**policy.rules.model_dump(), updated_at=policy.updated_at)


@router.post(
    "/admin/retention/preview",
    operation_id="admin_retention_preview",
    response_model=RetentionPreview,
)
async def preview(
    admin: AdminUser,
    body: Annotated[
        RetentionIn | None, Body(description="A policy to try instead of the current one")
    ] = None,
):
    """How many items and bytes, per user and kind, the policy would move to the trash now.
    Changes nothing."""
    report = await service.preview(admin, body)
    return RetentionPreview(
        items=[
            RetentionPreviewItem(user_id=m.user_id, kind=m.kind, items=m.items, bytes=m.bytes)
            for m in report.moved
        ],
        total_items=report.items,
        total_bytes=report.bytes,
        users=report.users,
        held_users=report.held,
    )


@router.get(
    "/users/me/retention",
    operation_id="users_retention_get",
    response_model=RetentionRead,
    dependencies=[require_account_access()],
)
async def get_mine(user: CurrentUser):
    return RetentionRead(**(user.retention or RetentionRules()).model_dump())


@router.put(
    "/users/me/retention",
    operation_id="users_retention_set",
    response_model=RetentionRead,
    dependencies=[require_account_access()],
)
async def set_mine(body: RetentionIn, user: CurrentUser):
    """Stricter ages for your own data (never looser than the administrators': 422)."""
    return RetentionRead(**(await service.set_user_policy(user, body)).model_dump())

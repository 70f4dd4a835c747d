from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from app.auth.dependencies import ACCOUNT_ACCESS, CurrentUser, SettingsDep
from app.openapi import LEGAL_HOLD
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.trash import service
from app.trash.schemas import TrashEmptied, TrashItemRead, TrashKind

router = AreaRouter(prefix="/trash", tags=["trash"], access=ACCOUNT_ACCESS)


@router.get("", operation_id="trash_list", response_model=Page[TrashItemRead])
async def list_trash(
    user: CurrentUser,
    params: Pagination,
    settings: SettingsDep,
    kind: Annotated[TrashKind | None, Query(description="Only this kind")] = None,
):
    """What you deleted, newest deletion first, with when each will be purged."""
    return await service.list_trash(user, params, settings, kind=kind)


@router.post("/{item_id}/restore", operation_id="trash_restore", response_model=TrashItemRead)
async def restore(item_id: str, user: CurrentUser, settings: SettingsDep):
    """Back where it was, exactly as it was."""
    return await service.restore(user, item_id, settings)


@router.delete(
    "/{item_id}",
    operation_id="trash_purge",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def purge(item_id: str, user: CurrentUser) -> Response:
    """Delete it for good now."""
    await service.purge(user, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("", operation_id="trash_empty", response_model=TrashEmptied, responses=LEGAL_HOLD)
async def empty(user: CurrentUser):
    """Delete everything in the trash for good."""
    return TrashEmptied(purged=await service.empty(user))

from __future__ import annotations

from typing import Literal

from fastapi import Response, status

from app.auth.dependencies import Access, CurrentUser
from app.folders import service
from app.folders.schemas import FolderCreate, FolderPatch, FolderRead, FolderTree
from app.pagination import Pagination
from app.routing import AreaRouter
from app.search.schemas import HitPage

router = AreaRouter(prefix="/folders", tags=["folders"], access=Access("folders"))


@router.post(
    "",
    operation_id="folders_create",
    status_code=status.HTTP_201_CREATED,
    response_model=FolderRead,
)
async def create_folder(body: FolderCreate, user: CurrentUser) -> FolderRead:
    """A folder (under `parent_id`, at most 8 levels deep), or with `query` a smart folder."""
    return await service.create_folder(user, body)


@router.get("", operation_id="folders_list", response_model=FolderTree)
async def list_folders(user: CurrentUser) -> FolderTree:
    """Every folder, depth first, each with the exact counts of the items directly in it."""
    return await service.list_folders(user)


@router.get("/{folder_id}", operation_id="folders_get", response_model=FolderRead)
async def get_folder(folder_id: str, user: CurrentUser) -> FolderRead:
    return await service.get_folder(user, folder_id)


@router.patch("/{folder_id}", operation_id="folders_update", response_model=FolderRead)
async def update_folder(folder_id: str, body: FolderPatch, user: CurrentUser) -> FolderRead:
    """Rename or move (`parent_id`; null is the top). Into itself or below itself: 409."""
    return await service.update_folder(user, folder_id, body)


@router.delete(
    "/{folder_id}", operation_id="folders_delete", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_folder(folder_id: str, user: CurrentUser) -> Response:
    """What it holds, items and folders, moves to its parent: nothing is lost."""
    await service.delete_folder(user, folder_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{folder_id}/items", operation_id="folders_items", response_model=HitPage)
async def folder_items(
    folder_id: str,
    user: CurrentUser,
    params: Pagination,
    kind: Literal["conversations", "sites", "files"] | None = None,
) -> HitPage:
    """Its conversations, sites and files, pinned first, then newest; for a smart folder, its
    search's matches as they are now. `count` is the total."""
    return await service.folder_items(user, folder_id, params, kind=kind)

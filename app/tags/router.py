from __future__ import annotations

from typing import Annotated

from fastapi import Path

from app.auth.dependencies import Access, CurrentUser
from app.routing import AreaRouter
from app.tags import service
from app.tags.schemas import TagChange, TagList, TagName, TagRename

router = AreaRouter(prefix="/tags", tags=["tags"], access=Access("folders"))

TagPath = Annotated[TagName, Path(description="The tag, in any case")]


@router.get("", operation_id="tags_list", response_model=TagList)
async def list_tags(user: CurrentUser) -> TagList:
    """Every tag on the caller's conversations, sites and files, with how many carry it."""
    return await service.list_tags(user)


@router.patch("/{name}", operation_id="tags_rename", response_model=TagChange)
async def rename_tag(name: TagPath, body: TagRename, user: CurrentUser) -> TagChange:
    """Renames it on every item at once (merging into the new name where it exists)."""
    return await service.rename_tag(user, name, body.name)


@router.delete("/{name}", operation_id="tags_delete", response_model=TagChange)
async def delete_tag(name: TagPath, user: CurrentUser) -> TagChange:
    """Takes it off every item."""
    return await service.delete_tag(user, name)

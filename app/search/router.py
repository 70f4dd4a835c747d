from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from app.auth.dependencies import Access, CurrentUser
from app.pagination import Pagination
from app.routing import AreaRouter
from app.schemas import ObjectIdIn
from app.search import service
from app.search.schemas import HitPage
from app.tags.schemas import TagName

router = AreaRouter(prefix="/search", tags=["search"], access=Access("search"))


@router.get("", operation_id="search_items", response_model=HitPage)
async def search(
    user: CurrentUser,
    params: Pagination,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    kind: Literal["conversations", "messages", "sites", "files"] | None = None,
    folder_id: Annotated[ObjectIdIn | None, Query()] = None,
    tag: Annotated[TagName | None, Query()] = None,
) -> HitPage:
    """The caller's conversation titles, messages (every branch, archived ones too), site
    titles and file names. Words and "quoted phrases", all required; the last word also matches
    as a prefix; case and accents are ignored; Chinese and Japanese text is matched as written
    anywhere in a word. Best matches first, then newest. A message hit names its conversation,
    whether it is on the branch the conversation is on, and its path from the root."""
    return await service.search(user, q, params, kind=kind, folder_id=folder_id, tag=tag)

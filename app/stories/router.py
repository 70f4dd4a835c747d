from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from app.auth.dependencies import Access, CurrentUser
from app.openapi import LEGAL_HOLD
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import ObjectIdIn, Permanent
from app.stories import service
from app.stories.schemas import StoryCreate, StoryPatch, StoryRead

router = AreaRouter(prefix="/stories", tags=["stories"], access=Access("stories"))


@router.post(
    "", operation_id="stories_create", status_code=status.HTTP_201_CREATED, response_model=StoryRead
)
async def create_story(body: StoryCreate, user: CurrentUser):
    return await service.create_story(user, body)


@router.get("", operation_id="stories_list", response_model=Page[StoryRead])
async def list_stories(
    user: CurrentUser,
    params: Pagination,
    favorite: bool | None = None,
    drawing_id: Annotated[ObjectIdIn | None, Query()] = None,
):
    return await service.list_stories(user, params, favorite=favorite, drawing_id=drawing_id)


@router.get("/{story_id}", operation_id="stories_get", response_model=StoryRead)
async def get_story(story_id: str, user: CurrentUser):
    return await service.get_story(user, story_id)


@router.patch("/{story_id}", operation_id="stories_update", response_model=StoryRead)
async def update_story(story_id: str, body: StoryPatch, user: CurrentUser):
    return await service.update_story(user, story_id, body)


@router.delete(
    "/{story_id}",
    operation_id="stories_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_story(story_id: str, user: CurrentUser, permanent: Permanent = False) -> Response:
    await service.delete_story(user, story_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

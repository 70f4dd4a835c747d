"""Bilingual stories about a drawing, with favourites."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app import storage
from app.auth.scoping import Scope, owned
from app.files.service import file_to_reference
from app.links import require_owned_links
from app.pagination import CursorParams, Page
from app.stories.schemas import StoryCreate, StoryPatch
from app.trash.moves import discard_or_404
from documents.base import utcnow
from documents.file import StoredFile
from documents.story import Story
from documents.user import User


def stories_of(user: User | ObjectId) -> Scope[Story]:
    return owned(Story, user)


async def _image(user: User, file_id: str | None) -> StoredFile | None:
    if file_id is None:
        return None
    return await file_to_reference(user, file_id, "image_file_id")


async def create_story(user: User, body: StoryCreate) -> Story:
    links = await require_owned_links(user, drawing_id=body.drawing_id)
    image = await _image(user, body.image_file_id)
    story = stories_of(user).new(
        title=body.title,
        text=body.text.model_dump(),
        generation_time_ms=body.generation_time_ms,
        image_file_id=image.id if image else None,
        image_sha256=image.sha256 if image else None,
        **links,
    )
    await story.insert()
    return story


async def get_story(user: User, story_id: str) -> Story:
    return await stories_of(user).get_or_404(story_id)


async def list_stories(
    user: User, params: CursorParams, *, favorite: bool | None, drawing_id: str | None
) -> Page[Story]:
    conditions: dict[str, Any] = {}
    if favorite is not None:
        conditions["is_favorite"] = favorite
    if drawing_id is not None:
        conditions["drawing_id"] = ObjectId(drawing_id)
    return await stories_of(user).list_page(params, extra=conditions)


async def update_story(user: User, story_id: str, patch: StoryPatch) -> Story:
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True)
    if "is_favorite" in changes:
        changes["favorite"] = int(changes["is_favorite"])
    changes["updated_at"] = utcnow()
    return await stories_of(user).update_or_404(story_id, {"$set": changes})


async def delete_story(user: User, story_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) gone."""
    await discard_or_404(stories_of(user), story_id, permanent=permanent, purge=purge_story)


async def purge_story(owner_id: ObjectId, oid: ObjectId) -> None:
    await storage.uncount_for(owner_id)

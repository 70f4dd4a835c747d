from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import AdminUser
from app.schemas import Limit
from app.tutorials import service
from app.tutorials.schemas import Lang, TutorialIn, TutorialPage, TutorialRead

router = APIRouter(prefix="/tutorials", tags=["tutorials"])
LangQuery = Annotated[Lang | None, Query(description="Texts as strings in this language")]


@router.get("", response_model=TutorialPage)
async def list_tutorials(
    category: Annotated[str | None, Query(max_length=32)] = None,
    lang: LangQuery = None,
    limit: Annotated[Limit, Query()] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
):
    """Public: no sign-in needed."""
    items, next_cursor = await service.list_tutorials(category, lang, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{slug}", response_model=TutorialRead)
async def get_tutorial(slug: str, lang: LangQuery = None):
    """Public. Without `lang`, texts are `{en, de}` objects."""
    return await service.get_tutorial(slug, lang)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TutorialRead)
async def create_tutorial(body: TutorialIn, _: AdminUser):
    """Administrators only."""
    return await service.create_tutorial(body)


@router.put(
    "/{slug}",
    response_model=TutorialRead,
    responses={201: {"model": TutorialRead, "description": "Created"}},
)
async def put_tutorial(slug: str, body: TutorialIn, _: AdminUser, response: Response):
    """Administrators only: create or replace."""
    tutorial, created = await service.put_tutorial(slug, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return tutorial

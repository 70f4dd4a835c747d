from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from app.auth.dependencies import AdminUser
from app.openapi import problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.tutorials import service
from app.tutorials.schemas import Lang, TutorialIn, TutorialRead, TutorialSummary

router = AreaRouter(prefix="/tutorials", tags=["tutorials"])
LangQuery = Annotated[Lang | None, Query(description="Texts as strings in this language")]


@router.get("", operation_id="tutorials_list", response_model=Page[TutorialSummary])
async def list_tutorials(
    params: Pagination,
    category: Annotated[str | None, Query(max_length=32)] = None,
    lang: LangQuery = None,
):
    """Public: no sign-in needed. By slug."""
    page = await service.list_tutorials(category, params)
    items = [TutorialSummary.of(card, lang) for card in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/{slug}", operation_id="tutorials_get", response_model=TutorialRead)
async def get_tutorial(slug: str, lang: LangQuery = None):
    """Public. Without `lang`, texts are `{en, de}` objects."""
    return TutorialRead.of(await service.get_tutorial(slug), lang)


@router.post(
    "",
    operation_id="tutorials_create",
    responses=problems((409, "A tutorial with this slug exists: PUT replaces it")),
    status_code=status.HTTP_201_CREATED,
    response_model=TutorialRead,
)
async def create_tutorial(body: TutorialIn, _: AdminUser):
    """Administrators only."""
    return TutorialRead.of(await service.create_tutorial(body), None)


@router.put(
    "/{slug}",
    operation_id="tutorials_put",
    response_model=TutorialRead,
    responses={
        201: {"model": TutorialRead, "description": "Created"},
        **problems((409, "Replaced concurrently; retry")),
    },
)
async def put_tutorial(slug: str, body: TutorialIn, _: AdminUser, response: Response):
    """Administrators only: create or replace."""
    tutorial, created = await service.put_tutorial(slug, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return TutorialRead.of(tutorial, None)

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import PrincipalDep, require_area
from app.schemas import Limit
from app.usage import service
from app.usage.schemas import UsageCreate, UsagePage, UsageRead

router = APIRouter(prefix="/usage", tags=["usage"], dependencies=[require_area("usage")])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UsageRead,
    responses={200: {"model": UsageRead, "description": "Already recorded under this request_id"}},
)
async def record_usage(body: UsageCreate, principal: PrincipalDep, response: Response):
    """Record one AI call. The same `request_id` again → 200 with the first event, counted once."""
    event, created = await service.create_usage(principal.user, body, principal.api_key_id)
    if not created:
        response.status_code = status.HTTP_200_OK
    return event


@router.get("", response_model=UsagePage)
async def list_usage(
    principal: PrincipalDep,
    limit: Annotated[Limit, Query()] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    items, next_cursor = await service.list_usage(principal.user, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}

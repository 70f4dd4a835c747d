from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.auth.dependencies import PrincipalDep, require_area
from app.pagination import Page, Pagination
from app.usage import service
from app.usage.schemas import UsageCreate, UsageRead

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


@router.get("", response_model=Page[UsageRead])
async def list_usage(principal: PrincipalDep, params: Pagination):
    return await service.list_usage(principal.user, params)

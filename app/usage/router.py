from __future__ import annotations

from fastapi import Response, status

from app.auth.dependencies import Access, PrincipalDep
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.usage import service
from app.usage.schemas import (
    UsageBatchCreate,
    UsageBatchItem,
    UsageBatchRead,
    UsageCreate,
    UsageRead,
)

router = AreaRouter(prefix="/usage", tags=["usage"], access=Access("usage"))


@router.post(
    "",
    operation_id="usage_record",
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


@router.post("/batch", operation_id="usage_record_batch", response_model=UsageBatchRead)
async def record_usage_batch(body: UsageBatchCreate, principal: PrincipalDep) -> UsageBatchRead:
    """Record up to 1,000 calls at once (gateways, importers). Every event is checked first: one
    invalid event → 422 naming its index, and nothing is written. Each is idempotent by
    `request_id` like `POST /usage`: a repeat (stored before, or earlier in this batch) is
    reported `duplicate: true` and counted once."""
    recorded = await service.create_usage_batch(principal.user, body, principal.api_key_id)
    items = [
        UsageBatchItem(request_id=r.event.request_id, id=str(r.event.id), duplicate=not r.created)
        for r in recorded
    ]
    created = sum(1 for r in recorded if r.created)
    return UsageBatchRead(recorded=created, duplicates=len(items) - created, items=items)


@router.get("", operation_id="usage_list", response_model=Page[UsageRead])
async def list_usage(principal: PrincipalDep, params: Pagination):
    return await service.list_usage(principal.user, params)

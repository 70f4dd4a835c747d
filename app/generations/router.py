from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from app.auth.dependencies import Access, CurrentUser, PrincipalDep
from app.generations import service
from app.generations.schemas import GenerationCreate, GenerationPatch, GenerationRead, Kind, Status
from app.openapi import problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import ObjectIdIn

router = AreaRouter(prefix="/generations", tags=["generations"], access=Access("generations"))


@router.post(
    "",
    operation_id="generations_create",
    status_code=status.HTTP_201_CREATED,
    response_model=GenerationRead,
    responses={402: {"description": "`budget_usd` does not fit the monthly budget"}},
)
async def create_generation(body: GenerationCreate, principal: PrincipalDep):
    return await service.create_generation(principal.user, body, principal.api_key)


@router.get("", operation_id="generations_list", response_model=Page[GenerationRead])
async def list_generations(
    user: CurrentUser,
    params: Pagination,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    kind: Kind | None = None,
    project_id: Annotated[ObjectIdIn | None, Query()] = None,
):
    filters = {"status": status_, "kind": kind, "project_id": project_id}
    return await service.list_generations(user, params, filters=filters)


@router.get("/{generation_id}", operation_id="generations_get", response_model=GenerationRead)
async def get_generation(generation_id: str, user: CurrentUser):
    return await service.get_generation(user, generation_id)


@router.patch(
    "/{generation_id}",
    operation_id="generations_update",
    responses=problems((409, "The status cannot make this transition")),
    response_model=GenerationRead,
)
async def update_generation(generation_id: str, body: GenerationPatch, user: CurrentUser):
    """queued → running → succeeded | failed; anything else is 409. With `usage`, a usage event
    is recorded once, however often the request is retried."""
    return await service.transition_generation(user, generation_id, body)


@router.delete(
    "/{generation_id}", operation_id="generations_delete", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_generation(generation_id: str, user: CurrentUser) -> Response:
    await service.delete_generation(user, generation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

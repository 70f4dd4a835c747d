from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response, status

from app.auth.dependencies import Access, CurrentUser
from app.files.schemas import FileRead
from app.openapi import LEGAL_HOLD, problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import Permanent
from app.workflows import service
from app.workflows.schemas import (
    PhaseUpdate,
    SceneIn,
    SceneRead,
    WorkflowCreate,
    WorkflowPatch,
    WorkflowRead,
)

router = AreaRouter(prefix="/workflows", tags=["workflows"], access=Access("workflows"))


@router.post(
    "",
    operation_id="workflows_create",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowRead,
)
async def create_workflow(body: WorkflowCreate, user: CurrentUser):
    """Default phases: story, scenes, images, video."""
    return await service.create_workflow(user, body)


@router.get("", operation_id="workflows_list", response_model=Page[WorkflowRead])
async def list_workflows(
    user: CurrentUser,
    params: Pagination,
    status_: Annotated[
        Literal["pending", "running", "completed", "failed"] | None, Query(alias="status")
    ] = None,
):
    return await service.list_workflows(user, params, status=status_)


@router.get("/{workflow_id}", operation_id="workflows_get", response_model=WorkflowRead)
async def get_workflow(workflow_id: str, user: CurrentUser):
    return await service.get_workflow(user, workflow_id)


@router.patch("/{workflow_id}", operation_id="workflows_update", response_model=WorkflowRead)
async def update_workflow(workflow_id: str, body: WorkflowPatch, user: CurrentUser):
    return await service.update_workflow(user, workflow_id, body)


@router.delete(
    "/{workflow_id}",
    operation_id="workflows_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_workflow(
    workflow_id: str, user: CurrentUser, permanent: Permanent = False
) -> Response:
    await service.delete_workflow(user, workflow_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{workflow_id}/phases/{name}",
    operation_id="workflows_update_phase",
    responses=problems((409, "The phase cannot make this transition")),
    response_model=WorkflowRead,
)
async def update_phase(workflow_id: str, name: str, body: PhaseUpdate, user: CurrentUser):
    """The workflow's `status` and `current_phase` follow its phases."""
    return await service.update_phase(user, workflow_id, name, body)


@router.post(
    "/{workflow_id}/scenes",
    operation_id="workflows_add_scene",
    responses=problems((409, "The scene exists: PUT replaces it")),
    status_code=status.HTTP_201_CREATED,
    response_model=SceneRead,
)
async def add_scene(workflow_id: str, body: SceneIn, user: CurrentUser):
    """A taken number is 409; at most 500 scenes (422 beyond)."""
    return await service.add_scene(user, workflow_id, body)


@router.put(
    "/{workflow_id}/scenes/{number}",
    operation_id="workflows_replace_scene",
    responses=problems((409, "The workflow kept changing; retry")),
    response_model=SceneRead,
)
async def replace_scene(workflow_id: str, number: int, body: SceneIn, user: CurrentUser):
    return await service.replace_scene(user, workflow_id, number, body)


@router.get(
    "/{workflow_id}/files", operation_id="workflows_list_files", response_model=Page[FileRead]
)
async def workflow_files(workflow_id: str, user: CurrentUser, params: Pagination):
    return await service.workflow_files(user, workflow_id, params)

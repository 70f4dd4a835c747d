from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from app.auth.dependencies import Access, CurrentUser
from app.openapi import LEGAL_HOLD
from app.pagination import Page, Pagination
from app.projects import service
from app.projects.schemas import ProjectCreate, ProjectPatch, ProjectRead, Status
from app.routing import AreaRouter
from app.schemas import Permanent

router = AreaRouter(prefix="/projects", tags=["projects"], access=Access("projects"))


@router.post(
    "",
    operation_id="projects_create",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectRead,
)
async def create_project(body: ProjectCreate, user: CurrentUser):
    return ProjectRead.of(await service.create_project(user, body), user)


@router.get("", operation_id="projects_list", response_model=Page[ProjectRead])
async def list_projects(
    user: CurrentUser,
    params: Pagination,
    include_public: Annotated[
        bool, Query(description="Also list other users' public projects")
    ] = False,
    status_: Annotated[Status | None, Query(alias="status")] = None,
):
    page = await service.list_projects(
        user, include_public=include_public, status=status_, params=params
    )
    return Page(items=[ProjectRead.of(p, user) for p in page.items], next_cursor=page.next_cursor)


@router.get("/{project_id}", operation_id="projects_get", response_model=ProjectRead)
async def get_project(project_id: str, user: CurrentUser):
    """Your project, or anyone's public one."""
    return ProjectRead.of(await service.get_project(user, project_id), user)


@router.patch("/{project_id}", operation_id="projects_update", response_model=ProjectRead)
async def update_project(project_id: str, body: ProjectPatch, user: CurrentUser):
    return ProjectRead.of(await service.update_project(user, project_id, body), user)


@router.delete(
    "/{project_id}",
    operation_id="projects_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_project(
    project_id: str, user: CurrentUser, permanent: Permanent = False
) -> Response:
    await service.delete_project(user, project_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

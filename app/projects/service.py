"""Projects. Reads go through `readable` (the caller's own plus public projects); writes through
`owned`, so a public project is never writable by anyone but its owner."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import owned, readable
from app.pagination import CursorParams, Page
from app.projects.schemas import ProjectCreate, ProjectPatch
from app.trash.moves import discard_or_404
from documents.base import utcnow
from documents.project import Project
from documents.user import User


async def create_project(user: User, body: ProjectCreate) -> Project:
    project = owned(Project, user).new(**body.model_dump())
    await project.insert()
    return project


async def get_project(user: User, project_id: str) -> Project:
    return await readable(Project, user).get_or_404(project_id)


async def list_projects(
    user: User, *, include_public: bool, status: str | None, params: CursorParams
) -> Page[Project]:
    scope = readable(Project, user) if include_public else owned(Project, user)
    conditions: dict[str, Any] = {}
    if status is not None:
        conditions["status"] = status
    return await scope.list_page(params, extra=conditions)


async def update_project(user: User, project_id: str, patch: ProjectPatch) -> Project:
    changes = patch.model_dump(exclude_unset=True) | {"updated_at": utcnow()}
    return await owned(Project, user).update_or_404(project_id, {"$set": changes})


async def delete_project(user: User, project_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) gone."""
    await discard_or_404(owned(Project, user), project_id, permanent=permanent, purge=purge_project)


async def purge_project(owner_id: ObjectId, oid: ObjectId) -> None:
    """Nothing goes with a project: what names it keeps its id."""

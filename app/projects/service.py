"""Projects. Reads go through `readable` (the caller's own plus public projects); writes through
`owned`, so a public project is never writable by anyone but its owner."""

from __future__ import annotations

from typing import Any

from app.auth.scoping import owned, readable
from app.errors import NotFound
from app.projects.schemas import ProjectCreate, ProjectPatch
from documents.base import utcnow
from documents.project import Project
from documents.user import User


def project_view(raw: dict[str, Any], user: User) -> dict[str, Any]:
    return {**raw, "owner_id": str(raw["owner_id"]), "is_owner": raw["owner_id"] == user.id}


async def create_project(user: User, body: ProjectCreate) -> dict[str, Any]:
    project = owned(Project, user).new(**body.model_dump())
    await project.insert()
    return project_view(project.model_dump() | {"_id": project.id}, user)


async def get_project(user: User, project_id: str) -> dict[str, Any]:
    return project_view(await readable(Project, user).get_raw(project_id), user)


async def list_projects(
    user: User, *, include_public: bool, status: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    scope = readable(Project, user) if include_public else owned(Project, user)
    conditions: dict[str, Any] = {}
    if status is not None:
        conditions["status"] = status
    rows, next_cursor = await scope.newest_first(conditions, limit=limit, cursor=cursor)
    return [project_view(r, user) for r in rows], next_cursor


async def update_project(user: User, project_id: str, patch: ProjectPatch) -> dict[str, Any]:
    changes = patch.model_dump(exclude_unset=True)
    changes["updated_at"] = utcnow()
    updated = await owned(Project, user).find_one_and_update(project_id, {"$set": changes})
    if updated is None:
        raise NotFound("No such project.")
    return project_view(updated, user)


async def delete_project(user: User, project_id: str) -> None:
    if not await owned(Project, user).delete_one(project_id):
        raise NotFound("No such project.")

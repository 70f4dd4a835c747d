from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from app.schemas import IdStr, JsonObject, Keep, ResourceRead, StrictInput
from documents.project import Project, ProjectStatus, Visibility
from documents.user import User

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Status = ProjectStatus


class ProjectCreate(StrictInput):
    name: Name
    description: Description | None = None
    status: Status = "draft"
    visibility: Visibility = "private"
    config: JsonObject | None = None


class ProjectPatch(StrictInput):
    not_null = ("name", "status", "visibility", "keep")
    keep: Keep = None
    name: Name | None = None
    description: Description | None = None
    status: Status | None = None
    visibility: Visibility | None = None
    config: JsonObject | None = None


class ProjectRead(ResourceRead):
    owner_id: IdStr
    keep: bool = False
    name: str
    description: str | None
    status: Status
    visibility: Visibility
    config: dict[str, Any] | None
    is_owner: bool

    @classmethod
    def of(cls, project: Project, viewer: User) -> ProjectRead:
        """The project as `viewer` sees it (`is_owner`)."""
        return cls.model_validate(
            {**project.model_dump(), "id": project.id, "is_owner": project.owner_id == viewer.id}
        )

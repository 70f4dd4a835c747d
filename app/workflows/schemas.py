from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from app.schemas import IdStr, Keep, ObjectIdIn, ResourceRead, StrictInput
from documents.workflow import PhaseStatus, WorkflowStatus

PhaseName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class WorkflowCreate(StrictInput):
    prompt: Text
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    phases: Annotated[list[PhaseName], Field(min_length=1, max_length=20)] | None = None

    @field_validator("phases")
    @classmethod
    def _unique(cls, phases: list[str] | None) -> list[str] | None:
        if phases is not None and len(set(phases)) != len(phases):
            raise ValueError("phase names must be unique")
        return phases


class WorkflowPatch(StrictInput):
    not_null = ("keep",)
    keep: Keep = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    enhanced_story: Annotated[str, StringConstraints(max_length=200_000)] | None = None


class PhaseUpdate(StrictInput):
    status: Literal["running", "completed", "failed", "skipped"]
    error: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class SceneIn(StrictInput):
    number: Annotated[int, Field(ge=1, le=100_000)]
    description: Text
    prompt: Text
    image_file_id: ObjectIdIn | None = None


class PhaseRead(BaseModel):
    name: str
    status: PhaseStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class SceneRead(BaseModel):
    number: int
    description: str
    prompt: str
    image_file_id: IdStr | None = None
    created_at: datetime
    updated_at: datetime


class WorkflowRead(ResourceRead):
    keep: bool = False
    prompt: str
    title: str | None
    enhanced_story: str | None
    status: WorkflowStatus
    current_phase: str | None
    phases: list[PhaseRead]
    scenes: list[SceneRead]

    @field_validator("scenes")
    @classmethod
    def _by_number(cls, scenes: list[SceneRead]) -> list[SceneRead]:
        return sorted(scenes, key=lambda scene: scene.number)

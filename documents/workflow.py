"""Multi-phase workflows (story → scenes → images → video) with their scenes.

The workflow's `status` and `current_phase` are derived from its phases and written in the same
update as the phase change (`derive_progress`), so they never disagree with the phases.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument
from documents.trash import Trashable

MAX_SCENES = 500
DEFAULT_PHASES = ("story", "scenes", "images", "video")
PhaseStatus = Literal["pending", "running", "completed", "failed", "skipped"]
WorkflowStatus = Literal["pending", "running", "completed", "failed"]
PHASE_TRANSITIONS: dict[str, set[str]] = {
    "pending": {"running", "completed", "failed", "skipped"},
    "running": {"completed", "failed"},
    "failed": {"running", "skipped"},
    "skipped": {"running"},
    "completed": set(),
}


class Phase(BaseModel):
    name: str
    status: PhaseStatus = "pending"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class Scene(BaseModel):
    number: int
    description: str
    prompt: str
    image_file_id: PydanticObjectId | None = None
    image_sha256: str | None = None
    created_at: datetime
    updated_at: datetime


class Workflow(OwnedDocument, Trashable):
    noun = "workflow"
    prompt: str
    title: str | None = None
    enhanced_story: str | None = None
    status: WorkflowStatus = "pending"
    current_phase: str | None = None
    phases: list[Phase] = Field(default_factory=list)
    scenes: list[Scene] = Field(default_factory=list)
    scene_count: int = 0
    revision: int = 0

    blob_fields: ClassVar[tuple[str, ...]] = ("scenes.image_sha256",)

    class Settings:
        name = "workflows"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("owner_id", ASCENDING), ("status", ASCENDING)], name="owner_status"),
        ]


class SceneFile(BaseModel):
    image_file_id: PydanticObjectId | None = None


class WorkflowFiles(BaseModel):
    """Projection: the files a workflow's scenes show."""

    id: PydanticObjectId = Field(alias="_id")
    scenes: list[SceneFile] = Field(default_factory=list)

    class Settings:
        projection = {"_id": 1, "scenes.image_file_id": 1}


def derive_progress(phases: list[Phase]) -> tuple[str, str | None]:
    """(workflow status, current phase) from the phases, in order."""
    statuses = [p.status for p in phases]
    current = next((p.name for p in phases if p.status not in ("completed", "skipped")), None)
    if "failed" in statuses:
        return "failed", current
    if all(s in ("completed", "skipped") for s in statuses):
        return "completed", None
    if any(s != "pending" for s in statuses):
        return "running", current
    return "pending", current

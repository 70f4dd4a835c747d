"""Workflows: ordered phases whose progress sets the workflow's status, and bounded scenes."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pydantic import BaseModel

from app import storage
from app.auth.scoping import Scope, owned
from app.errors import Conflict, NotFound, Unprocessable
from app.files.service import file_to_reference
from app.pagination import CursorParams, Page
from app.trash.moves import discard_or_404
from app.workflows.schemas import PhaseUpdate, SceneIn, WorkflowCreate, WorkflowPatch
from documents.base import utcnow
from documents.file import StoredFile
from documents.user import User
from documents.workflow import (
    DEFAULT_PHASES,
    MAX_SCENES,
    PHASE_TRANSITIONS,
    Phase,
    Scene,
    Workflow,
    WorkflowFiles,
    derive_progress,
)

RETRIES = 5


def workflows_of(user: User | ObjectId) -> Scope[Workflow]:
    return owned(Workflow, user)


async def create_workflow(user: User, body: WorkflowCreate) -> Workflow:
    phases = [Phase(name=name) for name in body.phases or DEFAULT_PHASES]
    status, current = derive_progress(phases)
    workflow = workflows_of(user).new(
        prompt=body.prompt, title=body.title, phases=phases, status=status, current_phase=current
    )
    await workflow.insert()
    return workflow


async def get_workflow(user: User, workflow_id: str) -> Workflow:
    return await workflows_of(user).get_or_404(workflow_id)


async def list_workflows(user: User, params: CursorParams, *, status: str | None) -> Page[Workflow]:
    conditions: dict[str, Any] = {}
    if status is not None:
        conditions["status"] = status
    return await workflows_of(user).list_page(params, extra=conditions)


async def update_workflow(user: User, workflow_id: str, patch: WorkflowPatch) -> Workflow:
    changes = patch.model_dump(exclude_unset=True) | {"updated_at": utcnow()}
    return await workflows_of(user).update_or_404(workflow_id, {"$set": changes})


async def delete_workflow(user: User, workflow_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) gone."""
    await discard_or_404(workflows_of(user), workflow_id, permanent=permanent, purge=purge_workflow)


async def purge_workflow(owner_id: ObjectId, oid: ObjectId) -> None:
    await storage.uncount_for(owner_id)


async def update_phase(user: User, workflow_id: str, name: str, body: PhaseUpdate) -> Workflow:
    """Set one phase's status and, in the same update, the workflow's derived status and
    current phase. The update is guarded by the workflow's revision: a concurrent change makes
    it miss and it is recomputed from a fresh read."""
    scope = workflows_of(user)
    for _attempt in range(RETRIES):
        workflow = await scope.get_or_404(workflow_id)
        index = next((i for i, p in enumerate(workflow.phases) if p.name == name), None)
        if index is None:
            raise NotFound(f"The workflow has no phase `{name}`.")
        current_status = workflow.phases[index].status
        if body.status not in PHASE_TRANSITIONS[current_status]:
            raise Conflict(f"Phase `{name}` is {current_status} and cannot become {body.status}.")
        now = utcnow()
        if body.status == "running":
            changes = {"started_at": now, "finished_at": None, "error": None}
        else:
            changes = {"finished_at": now, "error": body.error if body.status == "failed" else None}
        phase = workflow.phases[index].model_copy(update={"status": body.status, **changes})
        phases = [*workflow.phases[:index], phase, *workflow.phases[index + 1 :]]
        status, current = derive_progress(phases)
        updated = await scope.update(
            workflow.id,
            {
                "$set": {
                    f"phases.{index}": phase.model_dump(),
                    "status": status,
                    "current_phase": current,
                    "updated_at": now,
                },
                "$inc": {"revision": 1},
            },
            extra={"revision": workflow.revision, f"phases.{index}.name": name},
        )
        if updated is not None:
            return updated
    raise Conflict("The workflow kept changing; try again.")


class SceneImage(BaseModel):
    image_file_id: PydanticObjectId | None = None
    image_sha256: str | None = None


async def _scene_image(user: User, image_file_id: str | None) -> SceneImage:
    if image_file_id is None:
        return SceneImage()
    handle = await file_to_reference(user, image_file_id, "image_file_id")
    return SceneImage(image_file_id=handle.id, image_sha256=handle.sha256)


async def add_scene(user: User, workflow_id: str, body: SceneIn) -> Scene:
    """One update that only matches while the number is free and the workflow has room."""
    scope = workflows_of(user)
    now = utcnow()
    scene = Scene(
        number=body.number,
        description=body.description,
        prompt=body.prompt,
        **(await _scene_image(user, body.image_file_id)).model_dump(),
        created_at=now,
        updated_at=now,
    )
    updated = await scope.update(
        workflow_id,
        {
            "$push": {"scenes": scene.model_dump()},
            "$inc": {"scene_count": 1, "revision": 1},
            "$set": {"updated_at": now},
        },
        extra={"scenes.number": {"$ne": body.number}, "scene_count": {"$lt": MAX_SCENES}},
    )
    if updated is None:
        if await scope.exists(workflow_id, {"scenes.number": body.number}):
            raise Conflict(f"Scene {body.number} exists; PUT replaces it.")
        if not await scope.exists(workflow_id):
            raise scope.not_found()
        raise Unprocessable(f"A workflow holds at most {MAX_SCENES} scenes.", field="body.number")
    return scene


async def replace_scene(user: User, workflow_id: str, number: int, body: SceneIn) -> Scene:
    if body.number != number:
        raise Unprocessable("The body's `number` must match the path.", field="body.number")
    scope = workflows_of(user)
    image = await _scene_image(user, body.image_file_id)
    for _attempt in range(RETRIES):
        workflow = await scope.get_or_404(workflow_id)
        index = next((i for i, s in enumerate(workflow.scenes) if s.number == number), None)
        if index is None:
            raise NotFound(f"No scene {number}.")
        now = utcnow()
        scene = workflow.scenes[index].model_copy(
            update={
                "description": body.description,
                "prompt": body.prompt,
                **image.model_dump(),
                "updated_at": now,
            }
        )
        updated = await scope.update(
            workflow.id,
            {
                "$set": {f"scenes.{index}": scene.model_dump(), "updated_at": now},
                "$inc": {"revision": 1},
            },
            extra={f"scenes.{index}.number": number},
        )
        if updated is not None:
            await storage.uncount_for(user)  # the scene's old image may be referenced no more
            return scene
    raise Conflict("The workflow kept changing; try again.")


async def workflow_files(user: User, workflow_id: str, params: CursorParams) -> Page[StoredFile]:
    """Files uploaded for this workflow (`workflow_id` link) and files its scenes show."""
    workflow = await workflows_of(user).get_or_404(workflow_id, projection_model=WorkflowFiles)
    scene_files = [s.image_file_id for s in workflow.scenes if s.image_file_id]
    tied = {"$or": [{"links.workflow_id": workflow.id}, {"_id": {"$in": scene_files}}]}
    return await owned(StoredFile, user).list_page(params, extra=tied)

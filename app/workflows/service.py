"""Workflows: ordered phases whose progress sets the workflow's status, and bounded scenes."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope, owned
from app.errors import Conflict, NotFound, Unprocessable
from app.files.service import file_to_reference
from app.pagination import after_cursor, page_of
from app.workflows.schemas import PhaseUpdate, SceneIn, WorkflowCreate, WorkflowPatch
from documents.base import utcnow
from documents.file import StoredFile
from documents.user import User
from documents.workflow import (
    DEFAULT_PHASES,
    MAX_SCENES,
    PHASE_TRANSITIONS,
    Workflow,
    derive_progress,
)

RETRIES = 5


def workflows_of(user: User | ObjectId) -> Scope[Workflow]:
    return owned(Workflow, user)


def workflow_view(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "scenes": sorted(raw.get("scenes", []), key=lambda s: s["number"])}


async def create_workflow(user: User, body: WorkflowCreate) -> dict[str, Any]:
    phases = [{"name": name, "status": "pending"} for name in body.phases or DEFAULT_PHASES]
    status, current = derive_progress(phases)
    workflow = workflows_of(user).new(
        prompt=body.prompt, title=body.title, phases=phases, status=status, current_phase=current
    )
    await workflow.insert()
    return workflow_view(workflow.model_dump() | {"_id": workflow.id})


async def get_workflow(user: User, workflow_id: str) -> dict[str, Any]:
    return workflow_view(await workflows_of(user).get_raw(workflow_id))


async def list_workflows(
    user: User, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    scope = workflows_of(user)
    conditions: dict[str, Any] = {}
    if status is not None:
        conditions["status"] = status
    rows, next_cursor = await scope.newest_first(conditions, limit=limit, cursor=cursor)
    return [workflow_view(r) for r in rows], next_cursor


async def update_workflow(user: User, workflow_id: str, patch: WorkflowPatch) -> dict[str, Any]:
    changes = patch.model_dump(exclude_unset=True)
    changes["updated_at"] = utcnow()
    updated = await workflows_of(user).find_one_and_update(workflow_id, {"$set": changes})
    if updated is None:
        raise NotFound("No such workflow.")
    return workflow_view(updated)


async def delete_workflow(user: User, workflow_id: str) -> None:
    if not await workflows_of(user).delete_one(workflow_id):
        raise NotFound("No such workflow.")


async def update_phase(user: User, workflow_id: str, name: str, body: PhaseUpdate) -> dict:
    """Set one phase's status and, in the same update, the workflow's derived status and
    current phase. The update is guarded by the workflow's revision: a concurrent change makes
    it miss and it is recomputed from a fresh read."""
    scope = workflows_of(user)
    for _attempt in range(RETRIES):
        raw = await scope.get_raw(workflow_id)
        phases = raw.get("phases", [])
        index = next((i for i, p in enumerate(phases) if p["name"] == name), None)
        if index is None:
            raise NotFound(f"The workflow has no phase `{name}`.")
        phase = dict(phases[index])
        if body.status not in PHASE_TRANSITIONS[phase["status"]]:
            raise Conflict(f"Phase `{name}` is {phase['status']} and cannot become {body.status}.")
        now = utcnow()
        phase["status"] = body.status
        if body.status == "running":
            phase.update(started_at=now, finished_at=None, error=None)
        else:
            phase["finished_at"] = now
            phase["error"] = body.error if body.status == "failed" else None
        new_phases = [*phases[:index], phase, *phases[index + 1 :]]
        status, current = derive_progress(new_phases)
        updated = await scope.find_one_and_update(
            raw["_id"],
            {
                "$set": {
                    f"phases.{index}": phase,
                    "status": status,
                    "current_phase": current,
                    "updated_at": now,
                },
                "$inc": {"revision": 1},
            },
            extra={"revision": raw.get("revision", 0), f"phases.{index}.name": name},
        )
        if updated is not None:
            return workflow_view(updated)
    raise Conflict("The workflow kept changing; try again.")


async def _scene_image(user: User, image_file_id: str | None) -> dict[str, Any]:
    if image_file_id is None:
        return {"image_file_id": None, "image_sha256": None}
    handle = await file_to_reference(user, image_file_id, "image_file_id")
    return {"image_file_id": handle["_id"], "image_sha256": handle["sha256"]}


async def add_scene(user: User, workflow_id: str, body: SceneIn) -> dict[str, Any]:
    """One update that only matches while the number is free and the workflow has room."""
    scope = workflows_of(user)
    now = utcnow()
    scene = {
        "number": body.number,
        "description": body.description,
        "prompt": body.prompt,
        **await _scene_image(user, body.image_file_id),
        "created_at": now,
        "updated_at": now,
    }
    updated = await scope.find_one_and_update(
        workflow_id,
        {
            "$push": {"scenes": scene},
            "$inc": {"scene_count": 1, "revision": 1},
            "$set": {"updated_at": now},
        },
        extra={"scenes.number": {"$ne": body.number}, "scene_count": {"$lt": MAX_SCENES}},
    )
    if updated is None:
        raw = await scope.get_raw(workflow_id)
        if any(s["number"] == body.number for s in raw.get("scenes", [])):
            raise Conflict(f"Scene {body.number} exists; PUT replaces it.")
        raise Unprocessable(f"A workflow holds at most {MAX_SCENES} scenes.", field="body.number")
    return scene


async def replace_scene(user: User, workflow_id: str, number: int, body: SceneIn) -> dict:
    if body.number != number:
        raise Unprocessable("The body's `number` must match the path.", field="body.number")
    scope = workflows_of(user)
    image = await _scene_image(user, body.image_file_id)
    for _attempt in range(RETRIES):
        raw = await scope.get_raw(workflow_id)
        index = next(
            (i for i, s in enumerate(raw.get("scenes", [])) if s["number"] == number), None
        )
        if index is None:
            raise NotFound(f"No scene {number}.")
        now = utcnow()
        scene = {
            **raw["scenes"][index],
            "description": body.description,
            "prompt": body.prompt,
            **image,
            "updated_at": now,
        }
        updated = await scope.find_one_and_update(
            raw["_id"],
            {"$set": {f"scenes.{index}": scene, "updated_at": now}, "$inc": {"revision": 1}},
            extra={f"scenes.{index}.number": number},
        )
        if updated is not None:
            return scene
    raise Conflict("The workflow kept changing; try again.")


async def workflow_files(
    user: User, workflow_id: str, limit: int, cursor: str | None
) -> tuple[list[StoredFile], str | None]:
    """Files uploaded for this workflow (`workflow_id` link) and files its scenes show."""
    raw = await workflows_of(user).get_raw(workflow_id, {"scenes.image_file_id": 1})
    scene_files = [s["image_file_id"] for s in raw.get("scenes", []) if s.get("image_file_id")]
    files = owned(StoredFile, user)
    tied = {"$or": [{"links.workflow_id": raw["_id"]}, {"_id": {"$in": scene_files}}]}
    rows = (
        await files.find({"$and": [tied, after_cursor("_id", cursor)]})
        .sort("-_id")
        .limit(limit + 1)
        .to_list()
    )
    return page_of(rows, limit, "_id")

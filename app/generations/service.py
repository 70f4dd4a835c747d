"""Generation jobs: the state machine queued → running → succeeded | failed, each transition one
findAndModify that matches the expected current status."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import owned
from app.conversations.service import message_exists
from app.errors import Conflict, NotFound, Unprocessable
from app.generations.schemas import GenerationCreate, GenerationPatch
from app.links import require_owned_links
from app.money import to_micros, to_usd
from app.usage.service import record_usage_event
from documents.base import day_of, utcnow
from documents.file import StoredFile
from documents.generation import TRANSITIONS, Generation
from documents.user import User


def generation_view(raw: dict[str, Any]) -> dict[str, Any]:
    usage = raw.get("usage")
    if usage:
        usage = {**usage, "cost_usd": to_usd(usage.get("cost_micros", 0))}
    return {**raw, "usage": usage}


async def create_generation(user: User, body: GenerationCreate) -> dict[str, Any]:
    links = await require_owned_links(
        user, project_id=body.project_id, conversation_id=body.conversation_id
    )
    if body.message_id is not None:
        if not await message_exists(user, ObjectId(body.message_id), links["conversation_id"]):
            raise Unprocessable(
                "`message_id` is not one of your messages.", field="body.message_id"
            )
        links["message_id"] = ObjectId(body.message_id)
    now = utcnow()
    generation = owned(Generation, user).new(
        kind=body.kind,
        prompt=body.prompt,
        model=body.model,
        day=day_of(now),
        created_at=now,
        updated_at=now,
        **links,
    )
    await generation.insert()
    return generation_view(generation.model_dump() | {"_id": generation.id})


async def get_generation(user: User, generation_id: str) -> dict[str, Any]:
    return generation_view(await owned(Generation, user).get_raw(generation_id))


async def list_generations(
    user: User, *, filters: dict[str, Any], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    scope = owned(Generation, user)
    conditions = {k: v for k, v in filters.items() if v is not None}
    if "project_id" in conditions:
        conditions["project_id"] = ObjectId(conditions["project_id"])
    rows, next_cursor = await scope.newest_first(conditions, limit=limit, cursor=cursor)
    return [generation_view(r) for r in rows], next_cursor


async def transition_generation(user: User, generation_id: str, patch: GenerationPatch) -> dict:
    """Move to `patch.status` if the current status allows it. Retrying the same transition is
    harmless: it answers the generation as it is, and its usage is recorded once."""
    scope = owned(Generation, user)
    allowed_from = [status for status, targets in TRANSITIONS.items() if patch.status in targets]
    now = utcnow()
    changes: dict[str, Any] = {"status": patch.status, "updated_at": now}
    if patch.status == "running":
        changes["started_at"] = now
    else:
        changes["completed_at"] = now
        changes["succeeded"] = int(patch.status == "succeeded")
        changes["failed"] = int(patch.status == "failed")
    if patch.error is not None:
        changes["error"] = patch.error
    if patch.output is not None:
        file_ids = [ObjectId(f) for f in dict.fromkeys(patch.output.file_ids)]
        files = owned(StoredFile, user)
        if file_ids and await files.count({"_id": {"$in": file_ids}}) != len(file_ids):
            raise Unprocessable(
                "`output.file_ids` must all be your files.", field="body.output.file_ids"
            )
        changes["output"] = {"code": patch.output.code, "file_ids": file_ids}
    if patch.usage is not None:
        changes["usage"] = {
            "provider": patch.usage.provider,
            "prompt_tokens": patch.usage.prompt_tokens,
            "completion_tokens": patch.usage.completion_tokens,
            "total_tokens": patch.usage.prompt_tokens + patch.usage.completion_tokens,
            "cost_micros": to_micros(patch.usage.cost_usd),
        }
    if patch.duration_ms is not None:
        changes["duration_ms"] = patch.duration_ms
        changes["timed"] = 1
    updated = await scope.find_one_and_update(
        generation_id, {"$set": changes}, extra={"status": {"$in": allowed_from}}
    )
    if updated is None:
        current = await scope.get_raw(generation_id)
        if current["status"] != patch.status or not allowed_from:
            raise Conflict(
                f"A generation that is {current['status']} cannot become {patch.status}."
            )
        updated = current  # a retry of the transition that already happened
    if (
        updated.get("duration_ms") is None
        and updated.get("completed_at")
        and updated.get("started_at")
    ):
        elapsed = int((updated["completed_at"] - updated["started_at"]).total_seconds() * 1000)
        updated = (
            await scope.find_one_and_update(
                updated["_id"],
                {"$set": {"duration_ms": elapsed, "timed": 1}},
                extra={"duration_ms": None},
            )
            or updated
        )
    if updated.get("usage"):
        await _record_generation_usage(user, updated)
    return generation_view(updated)


async def _record_generation_usage(user: User, generation: dict[str, Any]) -> None:
    """One usage event per generation, keyed `generation:<id>`: retries never count twice."""
    usage = generation["usage"]
    await record_usage_event(
        user,
        {
            "request_id": f"generation:{generation['_id']}",
            "provider": usage.get("provider") or "unspecified",
            "model": generation.get("model") or "unspecified",
            "operation": f"generate:{generation['kind']}",
            "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0),
            "cost_micros": usage.get("cost_micros", 0),
            "latency_ms": generation.get("duration_ms") or 0,
            "status": "error" if generation["status"] == "failed" else "ok",
            "source": "generation",
            "generation_id": generation["_id"],
            "occurred_at": generation.get("completed_at") or generation["updated_at"],
        },
    )


async def delete_generation(user: User, generation_id: str) -> None:
    if not await owned(Generation, user).delete_one(generation_id):
        raise NotFound("No such generation.")

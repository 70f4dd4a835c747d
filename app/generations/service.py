"""Generation jobs: the state machine queued → running → succeeded | failed, each transition one
findAndModify that matches the expected current status."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import owned
from app.budgets.schemas import ReservationCreate
from app.budgets.service import claim, release_if_open, reserve
from app.conversations.service import message_exists
from app.errors import Conflict, Unprocessable
from app.generations.schemas import GenerationCreate, GenerationPatch
from app.links import require_owned_links
from app.money import to_micros
from app.pagination import CursorParams, Page
from app.usage.ledger import record_usage_event
from app.webhooks import events
from documents.api_key import ApiKey
from documents.base import day_of, utcnow
from documents.file import StoredFile
from documents.generation import TRANSITIONS, Generation
from documents.user import User

GENERATION_HOLD_S = 3600


async def create_generation(
    user: User, body: GenerationCreate, api_key: ApiKey | None = None
) -> Generation:
    links = await require_owned_links(
        user, project_id=body.project_id, conversation_id=body.conversation_id
    )
    if body.message_id is not None:
        if not await message_exists(user, ObjectId(body.message_id), links["conversation_id"]):
            raise Unprocessable(
                "`message_id` is not one of your messages.", field="body.message_id"
            )
        links["message_id"] = ObjectId(body.message_id)
    if body.budget_usd is not None:
        hold = ReservationCreate(
            amount_usd=body.budget_usd, ttl_s=GENERATION_HOLD_S, model=body.model
        )
        links["reservation_id"] = (await reserve(user, api_key, hold)).id
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
    return generation


async def get_generation(user: User, generation_id: str) -> Generation:
    return await owned(Generation, user).get_or_404(generation_id)


async def list_generations(
    user: User, params: CursorParams, *, filters: dict[str, Any]
) -> Page[Generation]:
    conditions = {k: v for k, v in filters.items() if v is not None}
    if "project_id" in conditions:
        conditions["project_id"] = ObjectId(conditions["project_id"])
    return await owned(Generation, user).list_page(params, extra=conditions)


async def transition_generation(
    user: User, generation_id: str, patch: GenerationPatch
) -> Generation:
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
    update: dict[str, Any] = {"$set": changes}
    if patch.status in ("succeeded", "failed"):
        # Owed to the outbox by this same write (`app/webhooks/events.py`).
        update["$addToSet"] = {"pending_events": f"generation.{patch.status}"}
    updated = await scope.update(generation_id, update, extra={"status": {"$in": allowed_from}})
    if updated is None:
        current = await scope.get_or_404(generation_id)
        if current.status != patch.status or not allowed_from:
            raise Conflict(f"A generation that is {current.status} cannot become {patch.status}.")
        updated = current  # a retry of the transition that already happened
    if updated.duration_ms is None and updated.completed_at and updated.started_at:
        elapsed = int((updated.completed_at - updated.started_at).total_seconds() * 1000)
        updated = (
            await scope.update(
                updated.id,
                {"$set": {"duration_ms": elapsed, "timed": 1}},
                extra={"duration_ms": None},
            )
            or updated
        )
    if updated.pending_events:
        await events.relay(updated)
    if updated.usage is not None:
        await _record_generation_usage(user, updated)
    elif updated.status in ("succeeded", "failed") and updated.reservation_id is not None:
        await release_if_open(user, updated.reservation_id)  # finished without usage
    return updated


async def _record_generation_usage(user: User, generation: Generation) -> None:
    """One usage event per generation, keyed `generation:<id>`: retries never count twice."""
    usage = generation.usage
    assert usage is not None
    reservation = None
    if generation.reservation_id is not None:
        reservation = await claim(user, generation.reservation_id)
    await record_usage_event(
        user,
        request_id=f"generation:{generation.id}",
        provider=usage.provider or "unspecified",
        model=generation.model or "unspecified",
        operation=f"generate:{generation.kind}",
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_micros=usage.cost_micros,
        latency_ms=generation.duration_ms or 0,
        status="error" if generation.status == "failed" else "ok",
        source="generation",
        generation_id=generation.id,
        occurred_at=generation.completed_at or generation.updated_at,
        reservation=reservation,
    )


async def delete_generation(user: User, generation_id: str) -> None:
    await owned(Generation, user).delete_or_404(generation_id)

"""Recording usage events, idempotently by `request_id`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo.errors import OperationFailure

from app.auth.scoping import owned
from app.engine import is_unique_violation
from app.links import require_owned_links
from app.money import to_micros
from app.pagination import CursorParams, Page
from app.usage.schemas import UsageCreate
from documents.base import day_of, utcnow
from documents.usage import UsageEvent
from documents.user import User


async def record_usage_event(
    owner: User | ObjectId,
    *,
    provider: str,
    model: str,
    operation: str,
    request_id: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_micros: int = 0,
    latency_ms: int = 0,
    status: Literal["ok", "error"] = "ok",
    source: Literal["api", "message", "generation"] = "api",
    occurred_at: datetime | None = None,
    api_key_id: ObjectId | None = None,
    generation_id: ObjectId | None = None,
    workflow_id: ObjectId | None = None,
    conversation_id: ObjectId | None = None,
) -> tuple[UsageEvent, bool]:
    """Insert the event; the same `request_id` again returns the first one. (event, created).
    Every path that records usage (the API, messages, generations) comes through here."""
    scope = owned(UsageEvent, owner)
    now = utcnow()
    occurred = occurred_at or now
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)

    def oid(value: ObjectId | None) -> PydanticObjectId | None:
        return None if value is None else PydanticObjectId(value)

    event = scope.new(
        request_id=request_id or f"gen:{uuid.uuid4().hex}",
        api_key_id=oid(api_key_id),
        provider=provider,
        model=model,
        operation=operation,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        cost_micros=cost_micros,
        latency_ms=latency_ms,
        status=status,
        errors=1 if status == "error" else 0,
        source=source,
        generation_id=oid(generation_id),
        workflow_id=oid(workflow_id),
        conversation_id=oid(conversation_id),
        occurred_at=occurred,
        day=day_of(occurred),
        created_at=now,
        updated_at=now,
    )
    try:
        await event.insert()
        return event, True
    except OperationFailure as exc:
        if not is_unique_violation(exc):
            raise
        existing = await scope.find_one({"request_id": event.request_id})
        if existing is None:  # pragma: no cover - a unique violation implies the row exists
            raise
        return existing, False


async def create_usage(
    user: User, body: UsageCreate, api_key_id: str | None
) -> tuple[UsageEvent, bool]:
    links = await require_owned_links(
        user, generation_id=body.generation_id, workflow_id=body.workflow_id
    )
    occurred = body.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    if occurred is not None:
        occurred = occurred.astimezone(UTC)
        occurred = occurred.replace(microsecond=occurred.microsecond // 1000 * 1000)
    return await record_usage_event(
        user,
        request_id=body.request_id,
        api_key_id=ObjectId(api_key_id) if api_key_id else None,
        provider=body.provider,
        model=body.model,
        operation=body.operation,
        prompt_tokens=body.prompt_tokens,
        completion_tokens=body.completion_tokens,
        cost_micros=to_micros(body.cost_usd),
        latency_ms=body.latency_ms,
        status=body.status,
        occurred_at=occurred,
        **links,
    )


async def list_usage(user: User, params: CursorParams) -> Page[UsageEvent]:
    return await owned(UsageEvent, user).list_page(params)

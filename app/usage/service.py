"""Recording usage events, idempotently by `request_id`."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from bson import ObjectId
from pymongo.errors import OperationFailure

from app.auth.scoping import owned
from app.engine import is_unique_violation
from app.links import require_owned_links
from app.money import to_micros, to_usd
from app.usage.schemas import UsageCreate
from documents.base import day_of, utcnow
from documents.usage import UsageEvent
from documents.user import User


def usage_view(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "cost_usd": to_usd(raw.get("cost_micros", 0))}


async def record_usage_event(owner: User | ObjectId, event: dict[str, Any]) -> tuple[dict, bool]:
    """Insert the event; the same `request_id` again returns the first one. (event, created)."""
    scope = owned(UsageEvent, owner)
    now = utcnow()
    occurred = event.get("occurred_at") or now
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    prompt, completion = event.get("prompt_tokens", 0), event.get("completion_tokens", 0)
    document = {
        "owner_id": scope.owner_id,
        "request_id": event.get("request_id") or f"gen:{uuid.uuid4().hex}",
        "api_key_id": event.get("api_key_id"),
        "provider": event["provider"],
        "model": event["model"],
        "operation": event["operation"],
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_micros": event.get("cost_micros", 0),
        "latency_ms": event.get("latency_ms", 0),
        "status": event.get("status", "ok"),
        "errors": 1 if event.get("status") == "error" else 0,
        "source": event.get("source", "api"),
        "generation_id": event.get("generation_id"),
        "workflow_id": event.get("workflow_id"),
        "conversation_id": event.get("conversation_id"),
        "occurred_at": occurred,
        "day": day_of(occurred),
        "created_at": now,
        "updated_at": now,
    }
    try:
        await scope.collection.insert_one(document)
        return document, True
    except OperationFailure as exc:
        if not is_unique_violation(exc):
            raise
        existing = await scope.collection.find_one(
            scope.filter({"request_id": document["request_id"]})
        )
        if existing is None:  # pragma: no cover - a unique violation implies the row exists
            raise
        return existing, False


async def create_usage(
    user: User, body: UsageCreate, api_key_id: str | None
) -> tuple[dict[str, Any], bool]:
    links = await require_owned_links(
        user, generation_id=body.generation_id, workflow_id=body.workflow_id
    )
    occurred = body.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    if occurred is not None:
        occurred = occurred.astimezone(UTC)
        occurred = occurred.replace(microsecond=occurred.microsecond // 1000 * 1000)
    event, created = await record_usage_event(
        user,
        {
            "request_id": body.request_id,
            "api_key_id": ObjectId(api_key_id) if api_key_id else None,
            "provider": body.provider,
            "model": body.model,
            "operation": body.operation,
            "prompt_tokens": body.prompt_tokens,
            "completion_tokens": body.completion_tokens,
            "cost_micros": to_micros(body.cost_usd),
            "latency_ms": body.latency_ms,
            "status": body.status,
            "occurred_at": occurred,
            **links,
        },
    )
    return usage_view(event), created


async def list_usage(
    user: User, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    scope = owned(UsageEvent, user)
    rows, next_cursor = await scope.newest_first(None, limit=limit, cursor=cursor)
    return [usage_view(r) for r in rows], next_cursor

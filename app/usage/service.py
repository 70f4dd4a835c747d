"""The usage ledger's API: one event, a batch of events, the list."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from app.auth.scoping import owned, parse_object_id
from app.budgets.service import claim_for_settlement, open_reservation_exists
from app.errors import Unprocessable
from app.links import require_owned_links
from app.money import to_micros
from app.pagination import CursorParams, Page
from app.usage.ledger import Recorded, draft_event, record_events
from app.usage.schemas import UsageBatchCreate, UsageCreate
from documents import LINKABLE
from documents.base import to_millis
from documents.budget import Reservation
from documents.usage import UsageEvent
from documents.user import User

LINK_FIELDS = ("generation_id", "workflow_id")


def _occurred(value: datetime | None) -> datetime | None:
    """A client's time in UTC, cut to what BSON keeps (milliseconds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return to_millis(value.astimezone(UTC))


def _draft(
    user: User,
    body: UsageCreate,
    api_key_id: str | None,
    links: dict[str, ObjectId | None],
    reservation: Reservation | None = None,
) -> UsageEvent:
    return draft_event(
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
        occurred_at=_occurred(body.occurred_at),
        reservation=reservation,
        **links,
    )


async def create_usage(
    user: User, body: UsageCreate, api_key_id: str | None
) -> tuple[UsageEvent, bool]:
    links = await require_owned_links(
        user, generation_id=body.generation_id, workflow_id=body.workflow_id
    )
    reservation = None
    if body.reservation_id is not None:
        reservation = await claim_for_settlement(user, body.reservation_id, "body.reservation_id")
    [recorded] = await record_events(user, [_draft(user, body, api_key_id, links, reservation)])
    return recorded.event, recorded.created


async def _batch_links(user: User, body: UsageBatchCreate) -> list[dict[str, ObjectId | None]]:
    """Every event's links, checked with one query per kind of link; the first event naming
    an object that is not the caller's is a 422 that says its index."""
    resolved: list[dict[str, ObjectId | None]] = [{} for _ in body.events]
    for field in LINK_FIELDS:
        wanted = {getattr(e, field) for e in body.events} - {None}
        ids = {value: parse_object_id(value) for value in wanted}
        valid = [oid for oid in ids.values() if oid is not None]
        known = set()
        if valid:
            scope = owned(LINKABLE[field], user)
            known = set(await scope.distinct("_id", {"_id": {"$in": valid}}))
        for index, event in enumerate(body.events):
            value = getattr(event, field)
            if value is not None and ids[value] not in known:
                name = LINKABLE[field].get_settings().name
                raise Unprocessable(
                    f"events[{index}]: `{field}` does not name one of your {name}.",
                    field=f"body.events.{index}.{field}",
                )
            resolved[index][field] = ids[value] if value is not None else None
    return resolved


async def create_usage_batch(
    user: User, body: UsageBatchCreate, api_key_id: str | None
) -> list[Recorded]:
    """All events are checked before any is written; then they are recorded as one batch."""
    links = await _batch_links(user, body)
    reservations = await _batch_reservations(user, body)
    drafts = [
        _draft(user, event, api_key_id, link, reservation)
        for event, link, reservation in zip(body.events, links, reservations, strict=True)
    ]
    return await record_events(user, drafts)


async def _batch_reservations(user: User, body: UsageBatchCreate) -> list[Reservation | None]:
    """Each event's reservation, taken out of the open ones once all of them were found open;
    one that is not (or is named twice) is a 422 that says the event's index."""
    wanted = [(i, e.reservation_id) for i, e in enumerate(body.events) if e.reservation_id]
    seen: set[str] = set()
    for index, rid in wanted:
        if rid in seen or not await open_reservation_exists(user, rid):
            raise Unprocessable(
                f"events[{index}]: `reservation_id` names no open reservation of yours.",
                field=f"body.events.{index}.reservation_id",
            )
        seen.add(rid)
    claimed: list[Reservation | None] = [None] * len(body.events)
    for index, rid in wanted:
        claimed[index] = await claim_for_settlement(
            user, rid, f"body.events.{index}.reservation_id"
        )
    return claimed


async def list_usage(user: User, params: CursorParams) -> Page[UsageEvent]:
    return await owned(UsageEvent, user).list_page(params)

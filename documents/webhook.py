"""Webhooks: the endpoints users register, the events the app records (the outbox) and one
delivery per event and endpoint.

An event's id is derived from what happened (`generation:<id>:succeeded`,
`budget:<budget id>:80`), so recording it twice — a retry, the repair at start after a crash —
stores it once, and a receiver sees one `webhook-id` per happening however often it is sent.
A delivery's id is `<event id>@<endpoint id>`, for the same reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument

PING = "webhook.ping"
EventType = Literal[
    "generation.succeeded",
    "generation.failed",
    "import.finished",
    "budget.threshold",
    "storage.threshold",
    "share.exhausted",
    "conversation.message_appended",
]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class WebhookEndpoint(OwnedDocument):
    noun = "webhook endpoint"
    url: str
    events: list[str]
    description: str | None = None
    secret: str  # whsec_<base64>: signs every delivery
    # After a rotation the old secret signs too, until `previous_until`.
    previous_secret: str | None = None
    previous_until: datetime | None = None
    all_users: bool = False  # an administrator's endpoint for every user's events
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    failing_since: datetime | None = None

    class Settings:
        name = "webhook_endpoints"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("all_users", ASCENDING)], name="all_users"),
        ]


class Event(OwnedDocument):
    """One happening, recorded once (the outbox); `fanned_out` once its deliveries exist."""

    noun = "event"
    id: str  # type: ignore[assignment]
    type: str
    data: dict[str, Any]
    fanned_out: bool = False

    class Settings:
        name = "events"
        indexes = [
            IndexModel([("fanned_out", ASCENDING), ("created_at", ASCENDING)], name="to_fan_out"),
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_newest"),
        ]


class Attempt(BaseModel):
    number: int
    at: datetime
    status_code: int | None = None
    duration_ms: int
    error: str | None = None


class Delivery(OwnedDocument):
    """One event for one endpoint. Pending deliveries of an endpoint go out oldest first, one
    at a time (`sequence`), each held by one process while it is sent (`lease_until`)."""

    noun = "delivery"
    id: str  # type: ignore[assignment]
    endpoint_id: PydanticObjectId
    event_id: str
    event_type: str
    sequence: datetime  # the event's time: the order an endpoint receives its events in
    body: str  # the JSON sent, fixed when the delivery is made
    status: DeliveryStatus = "pending"
    attempt_count: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    next_attempt_at: datetime
    first_attempt_at: datetime | None = None
    lease_until: datetime | None = None

    class Settings:
        name = "webhook_deliveries"
        indexes = [
            IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="status_due"),
            IndexModel(
                [("endpoint_id", ASCENDING), ("status", ASCENDING), ("sequence", ASCENDING)],
                name="endpoint_queue",
            ),
            IndexModel(
                [("owner_id", ASCENDING), ("endpoint_id", ASCENDING), ("_id", DESCENDING)],
                name="owner_endpoint",
            ),
        ]

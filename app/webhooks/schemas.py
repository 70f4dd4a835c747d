from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

from app.schemas import IdStr, ResourceRead, StrictInput
from app.webhooks.targets import TargetRefused, check_url
from documents.webhook import EventType


def _acceptable(url: str) -> str:
    try:
        check_url(url)
    except TargetRefused as exc:
        raise ValueError(str(exc)) from exc
    return url


WebhookUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=2048), AfterValidator(_acceptable)
]
Events = Annotated[list[EventType], Field(min_length=1, max_length=16)]
Description = Annotated[str, StringConstraints(max_length=500)]


class WebhookCreate(StrictInput):
    url: WebhookUrl
    events: Events
    description: Description | None = None
    all_users: StrictBool = Field(
        default=False, description="Every user's events (administrators only; others 403)"
    )


class WebhookPatch(StrictInput):
    not_null = ("url", "events", "enabled")
    url: WebhookUrl | None = None
    events: Events | None = None
    description: Description | None = None
    enabled: StrictBool | None = Field(
        default=None, description="true re-enables a disabled endpoint: what is pending goes out"
    )


class WebhookRead(ResourceRead):
    url: str
    events: list[str]
    description: str | None
    all_users: bool
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None


class WebhookSecret(BaseModel):
    secret: str = Field(description="whsec_…: shown this once; verify signatures with it")
    previous_valid_until: datetime | None = Field(
        default=None, description="After a rotation, the old secret also signs until then"
    )


class WebhookCreated(WebhookRead):
    secret: str = Field(description="whsec_…: shown this once")


class AttemptRead(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None


class DeliveryRead(BaseModel):
    id: IdStr
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    attempts: list[AttemptRead]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PingSent(BaseModel):
    delivery_id: str

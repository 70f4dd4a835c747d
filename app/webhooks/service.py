"""Webhook endpoints: registration (the signing secret shown once), changes, rotation with an
overlap, a test ping, the delivery log and a re-send. Delivering is the dispatcher's."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from app.auth.scoping import Scope, owned
from app.errors import Forbidden
from app.pagination import CursorParams, Page
from app.webhooks import events, signing
from app.webhooks.dispatcher import delivery_for
from app.webhooks.schemas import WebhookCreate, WebhookPatch, WebhookSecret
from documents.base import utcnow
from documents.user import User
from documents.webhook import PING, Delivery, Event, WebhookEndpoint

ROTATION_OVERLAP = timedelta(hours=24)


def endpoints_of(user: User) -> Scope[WebhookEndpoint]:
    return owned(WebhookEndpoint, user)


async def create_endpoint(user: User, body: WebhookCreate) -> WebhookEndpoint:
    if body.all_users and not user.is_admin:
        raise Forbidden("Only administrators receive every user's events.")
    endpoint = endpoints_of(user).new(
        url=body.url,
        events=list(dict.fromkeys(body.events)),
        description=body.description,
        all_users=body.all_users,
        secret=signing.new_secret(),
    )
    await endpoint.insert()
    await events.SUBSCRIPTIONS.refresh()
    return endpoint


async def list_endpoints(user: User, params: CursorParams) -> Page[WebhookEndpoint]:
    return await endpoints_of(user).list_page(params)


async def get_endpoint(user: User, endpoint_id: str) -> WebhookEndpoint:
    return await endpoints_of(user).get_or_404(endpoint_id)


async def update_endpoint(user: User, endpoint_id: str, patch: WebhookPatch) -> WebhookEndpoint:
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True, exclude={"enabled"})
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    if patch.enabled is True:
        changes |= {"disabled_at": None, "disabled_reason": None, "failing_since": None}
    elif patch.enabled is False:
        changes |= {"disabled_at": utcnow(), "disabled_reason": "disabled by its owner"}
    changes["updated_at"] = utcnow()
    updated = await endpoints_of(user).update_or_404(endpoint_id, {"$set": changes})
    await events.SUBSCRIPTIONS.refresh()
    events.WAKE.set()  # re-enabled: what is pending goes now
    return updated


async def delete_endpoint(user: User, endpoint_id: str) -> None:
    oid = await endpoints_of(user).delete_or_404(endpoint_id)
    await owned(Delivery, user).delete_many({"endpoint_id": oid})
    await events.SUBSCRIPTIONS.refresh()


async def rotate_secret(user: User, endpoint_id: str) -> WebhookSecret:
    """A new secret; the old one keeps signing (beside it) for 24 hours."""
    endpoint = await get_endpoint(user, endpoint_id)
    now = utcnow()
    secret = signing.new_secret()
    until = now + ROTATION_OVERLAP
    await endpoints_of(user).update_or_404(
        endpoint.id,
        {
            "$set": {
                "secret": secret,
                "previous_secret": endpoint.secret,
                "previous_until": until,
                "updated_at": now,
            }
        },
        extra={"secret": endpoint.secret},  # two rotations at once: the second is a 404
    )
    return WebhookSecret(secret=secret, previous_valid_until=until)


async def send_ping(user: User, endpoint_id: str) -> Delivery:
    """A `webhook.ping` for this endpoint only, sent by the next dispatcher round."""
    endpoint = await get_endpoint(user, endpoint_id)
    now = utcnow()
    event = owned(Event, user).new(
        id=f"ping:{secrets.token_hex(8)}",
        type=PING,
        data={"endpoint_id": str(endpoint.id)},
        fanned_out=True,
        created_at=now,
        updated_at=now,
    )
    await event.insert()
    delivery = await delivery_for(endpoint, event, now)
    await delivery.insert()
    events.WAKE.set()
    return delivery


async def list_deliveries(user: User, endpoint_id: str, params: CursorParams) -> Page[Delivery]:
    endpoint = await get_endpoint(user, endpoint_id)
    return await owned(Delivery, user).list_page(
        params, extra={"endpoint_id": endpoint.id}, sort_field="created_at"
    )


async def retry_delivery(user: User, endpoint_id: str, delivery_id: str) -> Delivery:
    """Send it again at the next round (a delivered one too: the receiver sees the same id)."""
    endpoint = await get_endpoint(user, endpoint_id)
    deliveries = owned(Delivery, user)
    found = await deliveries.find_one({"_id": delivery_id, "endpoint_id": endpoint.id})
    if found is None:
        raise deliveries.not_found()
    now = utcnow()
    again = await deliveries.update_or_404(
        found.id,
        {
            "$set": {
                "status": "pending",
                "next_attempt_at": now,
                "first_attempt_at": None,
                "lease_until": None,
                "updated_at": now,
            }
        },
    )
    events.WAKE.set()
    return again

from __future__ import annotations

from fastapi import Response, status

from app.auth.dependencies import ACCOUNT_ACCESS, CurrentUser
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryRead,
    PingSent,
    WebhookCreate,
    WebhookCreated,
    WebhookPatch,
    WebhookRead,
    WebhookSecret,
)
from documents.webhook import WebhookEndpoint

router = AreaRouter(prefix="/webhooks", tags=["webhooks"], access=ACCOUNT_ACCESS)


def _read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead.model_validate(
        {**endpoint.model_dump(), "id": endpoint.id, "enabled": endpoint.disabled_at is None}
    )


@router.post(
    "",
    operation_id="webhooks_create",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
)
async def create_webhook(body: WebhookCreate, user: CurrentUser) -> WebhookCreated:
    """Deliveries of `events` to `url`, signed (Standard Webhooks) with the `secret` this
    answer shows once."""
    endpoint = await service.create_endpoint(user, body)
    return WebhookCreated(**_read(endpoint).model_dump(), secret=endpoint.secret)


@router.get("", operation_id="webhooks_list", response_model=Page[WebhookRead])
async def list_webhooks(user: CurrentUser, params: Pagination) -> Page[WebhookRead]:
    page = await service.list_endpoints(user, params)
    return Page(items=[_read(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/{webhook_id}", operation_id="webhooks_get", response_model=WebhookRead)
async def get_webhook(webhook_id: str, user: CurrentUser) -> WebhookRead:
    return _read(await service.get_endpoint(user, webhook_id))


@router.patch("/{webhook_id}", operation_id="webhooks_update", response_model=WebhookRead)
async def update_webhook(webhook_id: str, body: WebhookPatch, user: CurrentUser) -> WebhookRead:
    """`enabled: true` re-enables an endpoint the dispatcher disabled; what is pending goes."""
    return _read(await service.update_endpoint(user, webhook_id, body))


@router.delete(
    "/{webhook_id}", operation_id="webhooks_delete", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_webhook(webhook_id: str, user: CurrentUser) -> Response:
    await service.delete_endpoint(user, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret", operation_id="webhooks_rotate", response_model=WebhookSecret
)
async def rotate_secret(webhook_id: str, user: CurrentUser) -> WebhookSecret:
    """A new secret; for 24 hours deliveries carry a signature by each."""
    return await service.rotate_secret(user, webhook_id)


@router.post(
    "/{webhook_id}/test",
    operation_id="webhooks_ping",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PingSent,
)
async def ping_webhook(webhook_id: str, user: CurrentUser) -> PingSent:
    """A `webhook.ping` event to this endpoint, sent by the next dispatcher round."""
    delivery = await service.send_ping(user, webhook_id)
    return PingSent(delivery_id=delivery.id)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="webhook_deliveries_list",
    response_model=Page[DeliveryRead],
)
async def list_deliveries(
    webhook_id: str, user: CurrentUser, params: Pagination
) -> Page[DeliveryRead]:
    """Newest first: each with its attempts (status code, duration) and next attempt."""
    page = await service.list_deliveries(user, webhook_id, params)
    return Page(
        items=[DeliveryRead.model_validate(d.model_dump()) for d in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    operation_id="webhook_deliveries_retry",
    response_model=DeliveryRead,
)
async def retry_delivery(webhook_id: str, delivery_id: str, user: CurrentUser) -> DeliveryRead:
    delivery = await service.retry_delivery(user, webhook_id, delivery_id)
    return DeliveryRead.model_validate(delivery.model_dump())

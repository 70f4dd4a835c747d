"""Reservations under `/usage/reservations`, the caller's limits, and the limits that
administrators and key owners set."""

from __future__ import annotations

from fastapi import Response, status

from app.auth.dependencies import ACCOUNT_ACCESS, Access, AdminUser, CurrentUser, PrincipalDep
from app.budgets import service
from app.budgets.schemas import (
    ApiKeySpendUpdate,
    LimitsRead,
    ReservationCreate,
    ReservationRead,
    UserLimitsUpdate,
)
from app.routing import AreaRouter
from app.users.schemas import ApiKeyRead

reservations_router = AreaRouter(
    prefix="/usage/reservations", tags=["usage"], access=Access("usage")
)
limits_router = AreaRouter(prefix="/users/me", tags=["users"], access=ACCOUNT_ACCESS)
admin_limits_router = AreaRouter(prefix="/admin/users", tags=["admin"])


@reservations_router.post(
    "",
    operation_id="reservations_create",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationRead,
    responses={402: {"description": "Over the user's or the API key's monthly budget"}},
)
async def create_reservation(body: ReservationCreate, principal: PrincipalDep):
    """Hold an amount of this month's budget before an AI call. Settle it by sending its id as
    `reservation_id` with the call's usage, or release it; it expires after `ttl_s`."""
    return await service.reserve(principal.user, principal.api_key, body)


@reservations_router.delete(
    "/{reservation_id}", operation_id="reservations_release", status_code=status.HTTP_204_NO_CONTENT
)
async def release_reservation(reservation_id: str, principal: PrincipalDep) -> Response:
    await service.release(principal.user, reservation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@limits_router.get("/limits", operation_id="limits_get", response_model=LimitsRead)
async def read_limits(user: CurrentUser):
    """This month's spend against the limit (money as exact decimal strings), storage used
    against the storage limit, and each API key's spend."""
    return await service.limits_of(user)


@limits_router.patch(
    "/api-keys/{key_id}", operation_id="api_keys_update", response_model=ApiKeyRead
)
async def cap_api_key(key_id: str, body: ApiKeySpendUpdate, user: CurrentUser):
    """Cap one of your API keys' monthly spend (`monthly_spend_usd`; null: no cap). Reservations
    made with the key must fit under both its cap and your own limit."""
    return await service.cap_api_key(user, key_id, body)


@admin_limits_router.put(
    "/{user_id}/limits", operation_id="admin_set_user_limits", response_model=LimitsRead
)
async def set_user_limits(user_id: str, body: UserLimitsUpdate, _: AdminUser):
    """Set a user's monthly spend and storage limits (null: the default from settings)."""
    return await service.set_user_limits(user_id, body)

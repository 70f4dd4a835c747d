"""Spend budgets: reservations held in one guarded update, released, settled by usage, swept
after expiry; the limits a user sees; the limits administrators and key owners set.

A hold is `$inc` of `reserved_micros` and `committed_micros` on the month's budget document,
guarded by `committed_micros <= limit - amount`: spent + reserved never passes the limit, however
many requests race (one document, one atomic update). With an API key the key's budget is held
too; when the key's hold fails the user's is given back. A reservation document is written after
its holds and deleted before they are given back, so a process that dies between the two leaves
a hold too many (never too few): `genstore quota check --fix` recomputes it.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bson import ObjectId

from app.auth.scoping import owned, owner_id_of, parse_object_id
from app.budgets import limits
from app.budgets.schemas import (
    ApiKeySpendUpdate,
    KeySpend,
    LimitsRead,
    ReservationCreate,
    SpendRead,
    StorageRead,
    UserLimitsUpdate,
)
from app.errors import BudgetExceeded, NotFound, Unprocessable
from app.money import to_micros, to_usd_text
from app.usage.rollups import budget_id
from app.webhooks import events
from documents.api_key import ApiKey
from documents.base import utcnow
from documents.budget import Reservation, SpendBudget, StorageUse
from documents.user import User


async def _hold(
    owner: ObjectId,
    target: str,
    amount: int,
    limit: int | None,
    *,
    month: str | None = None,
    api_key_id: ObjectId | None = None,
) -> bool:
    """With `month`, the month's first hold creates the budget `target` (the month's, of
    `api_key_id` when set). Under a limit the hold reads the new total back (same one command)
    and records the thresholds (50/80/100 %) it crossed (`app/webhooks/events.py`)."""
    increments = {"reserved_micros": amount, "committed_micros": amount}
    first = None  # the budget, built only when it is missing
    if month is not None:
        first = partial(SpendBudget, id=target, owner_id=owner, month=month, api_key_id=api_key_id)
    watched = limit is not None and amount > 0
    total = await owned(SpendBudget, owner).increment_within(
        target, increments, total="committed_micros", limit=limit, first=first, read=watched
    )
    if total is None:
        return False
    if watched and month is not None:
        await events.budget_thresholds(
            owner,
            target,
            before=total - amount,
            after=total,
            limit=limit,  # type: ignore[arg-type]
            month=month,
            api_key_id=api_key_id,
        )
    return True


async def _unhold(owner: ObjectId, target: str, amount: int) -> None:
    await _hold(owner, target, -amount, None)


async def _remaining(owner: ObjectId, target: str, limit: int) -> int:
    budget = await owned(SpendBudget, owner).find_one({"_id": target})
    return max(0, limit - (budget.committed_micros if budget else 0))


async def reserve(user: User, api_key: ApiKey | None, body: ReservationCreate) -> Reservation:
    """Hold `amount_usd` of this month's budget (and the key's) for `ttl_s` seconds, or 402."""
    owner = owner_id_of(user)
    now = utcnow()
    month = limits.month_of(now)
    amount = to_micros(body.amount_usd)
    user_limit = limits.spend_limit(user)
    target = budget_id(owner, month, None)
    if not await _hold(owner, target, amount, user_limit, month=month):
        await release_expired(owner)  # an expired hold stops counting the moment it expires
        if not await _hold(owner, target, amount, user_limit, month=month):
            assert user_limit is not None
            left = await _remaining(owner, target, user_limit)
            raise BudgetExceeded(
                f"This month's budget has ${to_usd_text(left)} left.",
                extensions={"remaining_usd": to_usd_text(left), "scope": "user"},
            )
    key_id = ObjectId(str(api_key.id)) if api_key is not None else None
    if key_id is not None:
        key_limit = limits.key_spend_limit(api_key)
        key_target = budget_id(owner, month, key_id)
        if not await _hold(owner, key_target, amount, key_limit, month=month, api_key_id=key_id):
            await _unhold(owner, target, amount)
            assert key_limit is not None
            left = await _remaining(owner, key_target, key_limit)
            raise BudgetExceeded(
                f"This API key's budget has ${to_usd_text(left)} left this month.",
                extensions={"remaining_usd": to_usd_text(left), "scope": "api_key"},
            )
    reservations = owned(Reservation, owner)
    reservation = reservations.new(
        month=month,
        amount_micros=amount,
        api_key_id=key_id,
        model=body.model,
        expires_at=now + timedelta(seconds=body.ttl_s),
    )
    return await reservations.insert(reservation)


async def give_back(owner: ObjectId, month: str, amount: int, api_key_id: ObjectId | None) -> None:
    """Return a claimed reservation's hold to the user's budget (and its key's)."""
    await _unhold(owner, budget_id(owner, month), amount)
    if api_key_id is not None:
        await _unhold(owner, budget_id(owner, month, api_key_id), amount)


async def _give_back(reservation: Reservation) -> None:
    await give_back(
        ObjectId(reservation.owner_id),
        reservation.month,
        reservation.amount_micros,
        reservation.api_key_id,
    )


async def claim(owner: User | ObjectId, reservation_id: object) -> Reservation | None:
    """Take a reservation out of the open ones (to release or settle it): the caller that
    deletes it is the only one that gives its hold back. None when it is not open."""
    scope = owned(Reservation, owner)
    oid = parse_object_id(reservation_id)
    found = await scope.find_one({"_id": oid}) if oid is not None else None
    if found is None or not await scope.delete_many({"_id": oid}):
        return None
    return found


async def open_reservation_exists(user: User, reservation_id: object) -> bool:
    return await owned(Reservation, user).exists(reservation_id)


async def release(user: User, reservation_id: str) -> None:
    reservation = await claim(user, reservation_id)
    if reservation is None:
        raise NotFound("No such open reservation.")
    await _give_back(reservation)


async def release_if_open(user: User, reservation_id: object) -> None:
    reservation = await claim(user, reservation_id)
    if reservation is not None:
        await _give_back(reservation)


async def claim_for_settlement(user: User, reservation_id: object, field: str) -> Reservation:
    reservation = await claim(user, reservation_id)
    if reservation is None:
        raise Unprocessable(
            "`reservation_id` names no open reservation of yours (settled, released or unknown).",
            field=field,
        )
    return reservation


async def release_expired(owner: ObjectId | None = None) -> int:
    """Give back the holds of expired reservations (one owner's, or everyone's for the cleanup
    job). Each is claimed by deleting it, so two sweeps never give one back twice."""
    expired = {"expires_at": {"$lte": utcnow()}}
    if owner is not None:
        found = await owned(Reservation, owner).find(expired).to_list()
    else:
        found = await Reservation.find(expired).to_list()
    released = 0
    for reservation in found:
        scope = owned(Reservation, reservation.owner_id)
        if await scope.delete_many({"_id": reservation.id, **expired}):
            await _give_back(reservation)
            released += 1
    return released


async def limits_of(user: User) -> LimitsRead:
    owner = owner_id_of(user)
    await release_expired(owner)
    month = limits.month_of(utcnow())
    budgets = {b.id: b for b in await owned(SpendBudget, owner).find({"month": month}).to_list()}
    mine = budgets.get(budget_id(owner, month)) or SpendBudget(id="", owner_id=owner, month=month)
    limit = limits.spend_limit(user)
    keys = []
    for key in await owned(ApiKey, owner).find({"revoked_at": None}).to_list():
        spent = budgets.get(budget_id(owner, month, ObjectId(str(key.id))))
        keys.append(
            KeySpend(
                id=str(key.id),
                name=key.name,
                limit_usd=None
                if key.monthly_spend_micros is None
                else to_usd_text(key.monthly_spend_micros),
                spent_usd=to_usd_text(spent.spent_micros if spent else 0),
                reserved_usd=to_usd_text(spent.reserved_micros if spent else 0),
            )
        )
    storage = await owned(StorageUse, owner).find_one({"_id": str(owner)})
    return LimitsRead(
        spend=SpendRead(
            month=month,
            limit_usd=None if limit is None else to_usd_text(limit),
            spent_usd=to_usd_text(mine.spent_micros),
            reserved_usd=to_usd_text(mine.reserved_micros),
            remaining_usd=None
            if limit is None
            else to_usd_text(max(0, limit - mine.committed_micros)),
            resets_at=limits.month_resets_at(month),
        ),
        storage=StorageRead(
            limit_bytes=limits.storage_limit(user),
            used_bytes=storage.used_bytes if storage else 0,
        ),
        keys=keys,
    )


async def set_user_limits(user_id: str, body: UserLimitsUpdate) -> LimitsRead:
    oid = parse_object_id(user_id)
    user = await User.get(oid) if oid is not None else None
    if user is None:
        raise NotFound("No such user.")
    spend = body.monthly_spend_usd
    user.limits.monthly_spend_micros = None if spend is None else to_micros(spend)
    user.limits.storage_bytes = body.storage_bytes
    await User.find_one({"_id": oid}).update(
        {"$set": {"limits": user.limits.model_dump(), "updated_at": utcnow()}}
    )
    return await limits_of(user)


async def cap_api_key(user: User, key_id: str, body: ApiKeySpendUpdate) -> ApiKey:
    spend = body.monthly_spend_usd
    cap = None if spend is None else to_micros(spend)
    return await owned(ApiKey, user).update_or_404(
        key_id, {"$set": {"monthly_spend_micros": cap, "updated_at": utcnow()}}
    )

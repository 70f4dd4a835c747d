"""Delivering the outbox: at least once, in order per endpoint, safe on many processes.

One round (`deliver_round`, run every `WEBHOOK_POLL_S` by each app process and by
`genstore webhooks deliver`):

1. relay what crashed writes left owed (`events.relay_pending`);
2. fan out new events: one delivery per subscribed endpoint (the owner's, and administrators'
   endpoints for every user), its id derived from both, so a repeated fan-out adds nothing;
3. send what is due: for each endpoint only its oldest pending delivery (so an endpoint gets
   its events in order, and a failing one holds back the later ones until it is given up),
   claimed with a lease by one findAndModify so one process sends it. A 2xx delivers it; any
   other answer or error is an attempt logged on the delivery and retried with exponential
   backoff and full jitter, for `WEBHOOK_GIVE_UP_HOURS`; an endpoint failing that long is
   disabled, and re-enabling it sends what is pending.

A process killed while sending leaves the lease to expire: the delivery is sent again, with the
same `webhook-id` (at least once). This job reads every owner's deliveries by time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId

from app.auth.scoping import owned
from app.engine import insert_unless_exists
from app.observability import WEBHOOK_DELIVERIES, WEBHOOK_OUTBOX
from app.settings import Settings
from app.webhooks import events, signing
from app.webhooks.targets import TargetRefused, check_addresses
from documents.base import utcnow
from documents.webhook import Attempt, Delivery, Event, WebhookEndpoint

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
REPAIR_EVERY_S = 10.0
FAN_OUT_BATCH = 500
SEND_BATCH = 50
PER_ENDPOINT_ROUND = 100  # deliveries one endpoint gets per round, in order
MAX_LOGGED_ATTEMPTS = 25
MAX_RESPONSE_BYTES = 4096
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass
class RoundReport:
    relayed: int = 0
    fanned_out: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    retry_in: float | None = None  # seconds to the soonest retry this round scheduled


def payload(event: Event) -> str:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "data": event.data,
        },
        separators=(",", ":"),
    )


async def _subscribers(event: Event) -> list[WebhookEndpoint]:
    wanted = {"events": event.type}
    own = await owned(WebhookEndpoint, event.owner_id).find(wanted).to_list()
    admins = await WebhookEndpoint.find({"all_users": True, **wanted}).to_list()
    return list({e.id: e for e in [*own, *admins]}.values())


async def delivery_for(endpoint: WebhookEndpoint, event: Event, now: datetime) -> Delivery:
    return owned(Delivery, endpoint.owner_id).new(
        id=f"{event.id}@{endpoint.id}",
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=event.type,
        sequence=event.created_at,
        body=payload(event),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


async def fan_out() -> int:
    made = 0
    pending = Event.find({"fanned_out": False}).sort("created_at").limit(FAN_OUT_BATCH)
    for event in await pending.to_list():
        now = utcnow()
        for endpoint in await _subscribers(event):
            made += await insert_unless_exists(await delivery_for(endpoint, event, now))
        await owned(Event, event.owner_id).update_one(event.id, {"$set": {"fanned_out": True}})
    return made


async def _heads(now: datetime) -> list[Delivery]:
    """The due deliveries that are the oldest pending one of their endpoint."""
    due = (
        await Delivery.find({"status": "pending", "next_attempt_at": {"$lte": now}})
        .sort("sequence")
        .limit(SEND_BATCH * 4)
        .to_list()
    )
    heads: dict[ObjectId, Delivery] = {}
    for delivery in due:
        if delivery.endpoint_id in heads:
            continue
        earlier = await Delivery.find(
            {
                "endpoint_id": delivery.endpoint_id,
                "status": "pending",
                "sequence": {"$lt": delivery.sequence},
            }
        ).count()
        if earlier == 0:
            heads[delivery.endpoint_id] = delivery
    return list(heads.values())[:SEND_BATCH]


async def _claim(delivery: Delivery, now: datetime) -> Delivery | None:
    free = {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}
    return await owned(Delivery, delivery.owner_id).update(
        delivery.id,
        {"$set": {"lease_until": now + LEASE}},
        extra={"status": "pending", **free},
    )


def _backoff(settings: Settings, attempt: int) -> float:
    ceiling = min(settings.webhook_retry_max_s, settings.webhook_retry_base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter: timing, not secrecy


async def send(
    http: httpx.AsyncClient, settings: Settings, endpoint: WebhookEndpoint, delivery: Delivery
) -> Attempt:
    """One POST of the delivery's body, signed; the attempt as the log shows it."""
    started = time.perf_counter()
    number = delivery.attempt_count + 1
    status_code, error = None, None
    try:
        await check_addresses(endpoint.url, allow_private=settings.webhook_allow_private)
        now = utcnow()
        keys = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
            keys.append(endpoint.previous_secret)
        headers = signing.headers(keys, delivery.event_id, int(now.timestamp()), delivery.body)
        async with http.stream(
            "POST", endpoint.url, content=delivery.body.encode(), headers=headers
        ) as response:
            status_code = response.status_code
            read = 0
            async for chunk in response.aiter_bytes():  # at most 4 KB of what it says
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
    except TargetRefused as exc:
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
    elapsed = int((time.perf_counter() - started) * 1000)
    return Attempt(
        number=number, at=utcnow(), status_code=status_code, duration_ms=elapsed, error=error
    )


async def _settle(
    settings: Settings, endpoint: WebhookEndpoint, delivery: Delivery, attempt: Attempt
) -> float | None:
    """Log the attempt; deliver, retry later or give up. None when delivered; else the seconds
    to its retry (infinity when it was given up)."""
    delay = float("inf")
    now = attempt.at
    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
    first = delivery.first_attempt_at or now
    update: dict[str, Any] = {
        "$set": {
            "attempt_count": attempt.number,
            "first_attempt_at": first,
            "lease_until": None,
            "updated_at": now,
        },
        "$push": {"attempts": attempt.model_dump()},
    }
    if ok:
        update["$set"]["status"] = "delivered"
    elif now - first >= timedelta(hours=settings.webhook_give_up_hours):
        update["$set"]["status"] = "failed"
    else:
        delay = _backoff(settings, attempt.number)
        update["$set"]["next_attempt_at"] = now + timedelta(seconds=delay)
    deliveries = owned(Delivery, delivery.owner_id)
    await deliveries.update_one(delivery.id, update)
    if len(delivery.attempts) >= MAX_LOGGED_ATTEMPTS:
        await deliveries.update_one(delivery.id, {"$pop": {"attempts": -1}})
    WEBHOOK_DELIVERIES.labels("delivered" if ok else "failed").inc()
    await _endpoint_health(settings, endpoint, ok, now)
    return None if ok else delay


async def _endpoint_health(
    settings: Settings, endpoint: WebhookEndpoint, ok: bool, now: datetime
) -> None:
    endpoints = owned(WebhookEndpoint, endpoint.owner_id)
    if ok:
        if endpoint.failing_since is not None:
            await endpoints.update_one(endpoint.id, {"$set": {"failing_since": None}})
        return
    if endpoint.failing_since is None:
        await endpoints.update_one(
            endpoint.id, {"$set": {"failing_since": now}}, extra={"failing_since": None}
        )
    elif now - endpoint.failing_since >= timedelta(hours=settings.webhook_give_up_hours):
        reason = f"every delivery failed for {settings.webhook_give_up_hours:g} hours"
        await endpoints.update_one(
            endpoint.id,
            {"$set": {"disabled_at": now, "disabled_reason": reason}},
            extra={"disabled_at": None},
        )


async def deliver_due(http: httpx.AsyncClient, settings: Settings) -> tuple[int, list[float]]:
    """(delivered, the retry delays of the failed attempts) of one pass over the due heads."""
    now = utcnow()
    heads = await _heads(now)

    async def queue_of(head: Delivery) -> tuple[int, float | None]:
        """The endpoint's due deliveries in order, one at a time, until one fails."""
        delivered = 0
        delivery: Delivery | None = head
        while delivery is not None and delivered < PER_ENDPOINT_ROUND:
            # Read for each delivery: a rotation or a disable applies to the very next one.
            endpoint = await WebhookEndpoint.get(head.endpoint_id)
            if endpoint is None or endpoint.disabled_at is not None:
                break  # waits for the endpoint to be enabled (or goes with it)
            claimed = await _claim(delivery, utcnow())
            if claimed is None:
                break  # another process is sending it
            attempt = await send(http, settings, endpoint, claimed)
            retry_in = await _settle(settings, endpoint, claimed, attempt)
            if retry_in is not None:
                return delivered, retry_in
            delivered += 1
            delivery = await _next_due(endpoint, utcnow())
        return delivered, None

    results = await asyncio.gather(*(queue_of(d) for d in heads))
    return sum(r[0] for r in results), [r[1] for r in results if r[1] is not None]


async def _next_due(endpoint: WebhookEndpoint, now: datetime) -> Delivery | None:
    """The endpoint's oldest pending delivery, when it is due."""
    found = await (
        Delivery.find({"endpoint_id": endpoint.id, "status": "pending"})
        .sort("sequence")
        .limit(1)
        .to_list()
    )
    return found[0] if found and found[0].next_attempt_at <= now else None


async def deliver_round(
    http: httpx.AsyncClient, settings: Settings, *, repair: bool = True
) -> RoundReport:
    """One round; `repair` also relays what crashed writes owe and measures the outbox (the
    app's loop does that at start and every `REPAIR_EVERY_S`, not on every round)."""
    report = RoundReport()
    if repair:
        report.relayed = await events.relay_pending()
    report.fanned_out = await fan_out()
    report.delivered, retries = await deliver_due(http, settings)
    report.failed_attempts = len(retries)
    report.retry_in = min(retries, default=None)
    if repair:
        WEBHOOK_OUTBOX.set(await Delivery.find({"status": "pending"}).count())
    return report


def client() -> httpx.AsyncClient:
    """Redirects are not followed; connect within 5 s, everything within 15 s."""
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


async def dispatch_forever(settings: Settings) -> None:
    """The app process's dispatcher: a round every `WEBHOOK_POLL_S`, at once when this process
    records an event (`events.WAKE`), and when a retry it scheduled is due; the repair (what
    crashed writes owe) at start and every `REPAIR_EVERY_S`. A failed round is logged and the
    next one tries again."""
    loop = asyncio.get_running_loop()
    repaired_at = float("-inf")
    async with client() as http:
        while True:
            wait = settings.webhook_poll_s
            events.WAKE.clear()
            repair = loop.time() - repaired_at >= REPAIR_EVERY_S
            try:
                report = await deliver_round(http, settings, repair=repair)
                if repair:
                    repaired_at = loop.time()
                if report.retry_in is not None:
                    wait = min(wait, max(report.retry_in, 0.01))
            except asyncio.CancelledError:
                raise
            except Exception:  # a round must never stop the loop
                log.exception("webhook dispatch round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(events.WAKE.wait(), wait)

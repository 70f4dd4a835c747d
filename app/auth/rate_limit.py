"""A fixed-window request counter in MongoDB, so a limit holds across every app process."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from beanie import UpdateResponse
from pymongo.errors import OperationFailure

from app.engine import is_unique_violation
from app.errors import TooManyRequests
from documents.rate_limit import RateLimitWindow

WINDOW_SECONDS = 60


async def enforce_rate_limit(key: str, limit: int) -> None:
    """Count one request for `key` in the current minute; over `limit` → 429 with Retry-After."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    count = await count_request(key, window)
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        raise TooManyRequests(
            f"Rate limit of {limit} requests per minute exceeded.",
            headers={"Retry-After": str(retry_after)},
        )


async def current_count(key: str, window: int) -> int:
    """The window's count so far, without counting."""
    counter = await RateLimitWindow.get(f"{key}:{window}")
    return 0 if counter is None else counter.hits


async def count_request(key: str, window: int) -> int:
    """Add one to the window's counter and return the new count.

    The window's document is created by an insert that may lose a race, never by a racing
    `$inc` upsert (which loses increments on some engines, `app/engine.py`): the common case is
    one `$inc` on the existing document; the first request of a window inserts it with count 1;
    a request that loses that insert increments the winner's document.
    """
    window_id = f"{key}:{window}"

    async def increment() -> int | None:
        counter = await RateLimitWindow.find_one({"_id": window_id}).update(
            {"$inc": {"count": 1}}, response_type=UpdateResponse.NEW_DOCUMENT
        )
        return None if counter is None else counter.hits

    count = await increment()
    if count is not None:
        return count
    expires_at = datetime.fromtimestamp((window + 2) * WINDOW_SECONDS, UTC)
    try:
        await RateLimitWindow(id=window_id, key=key, window=window, expires_at=expires_at).insert()
        return 1
    except OperationFailure as exc:
        if not is_unique_violation(exc):
            raise
    count = await increment()
    if count is None:  # pragma: no cover - the insert failed because the window exists
        raise RuntimeError(f"rate-limit window {window_id} vanished")
    return count

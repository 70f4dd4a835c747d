"""A fixed-window request counter in MongoDB, so a limit holds across every app process."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from beanie import UpdateResponse

from app.engine import increment_or_insert
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

    The engine's counter primitive (`engine.increment_or_insert`): the common case is one `$inc`
    on the existing document; the first request of a window inserts it with count 1; a request
    that loses that insert increments the winner's document.
    """
    window_id = f"{key}:{window}"

    async def increment() -> int | None:
        counter = await RateLimitWindow.find_one({"_id": window_id}).update(
            {"$inc": {"count": 1}}, response_type=UpdateResponse.NEW_DOCUMENT
        )
        return None if counter is None else counter.hits

    expires_at = datetime.fromtimestamp((window + 2) * WINDOW_SECONDS, UTC)
    first = RateLimitWindow(id=window_id, key=key, window=window, expires_at=expires_at)
    count = await increment_or_insert(increment, first)
    return first.hits if count is None else count

"""A fixed-window request counter in MongoDB, so a limit holds across every app process."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.database import get_db
from app.errors import TooManyRequests
from documents.rate_limit import RATE_LIMITS_COLLECTION

WINDOW_SECONDS = 60


async def enforce_rate_limit(key: str, limit: int) -> None:
    """Count one request for `key` in the current minute; over `limit` → 429 with Retry-After."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    collection = get_db()[RATE_LIMITS_COLLECTION]
    update = {
        "$inc": {"count": 1},
        "$setOnInsert": {
            "key": key,
            "window": window,
            "expires_at": datetime.fromtimestamp((window + 2) * WINDOW_SECONDS, UTC),
        },
    }
    for attempt in range(2):
        try:
            counter = await collection.find_one_and_update(
                {"_id": f"{key}:{window}"},
                update,
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            break
        except DuplicateKeyError:
            # Two processes inserted the window at once; the retry finds it and increments.
            if attempt:
                raise
    if counter["count"] > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        raise TooManyRequests(
            f"Rate limit of {limit} requests per minute exceeded.",
            headers={"Retry-After": str(retry_after)},
        )

"""Fixed-window request counters, shared by every app process through the database.

A plain collection rather than a Beanie document: it is only ever touched by an insert and `$inc`
on `_id` ("<key>:<window>") and by the clean-up job. Shape: {_id, key, window, count, expires_at}.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel

RATE_LIMITS_COLLECTION = "rate_limits"
RATE_LIMITS_INDEXES = [IndexModel([("expires_at", ASCENDING)], name="expires_at")]

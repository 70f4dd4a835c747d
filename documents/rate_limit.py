"""Fixed-window request counters, shared by every app process through the database.

One document per key and minute, `_id` "<key>:<window>": created by an insert that may lose a
race, then only ever `$inc`ed (never a racing upsert, `app/engine/`), and removed by the
clean-up job once the window is over.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field
from pymongo import ASCENDING, IndexModel

from documents.base import StoredDocument


class RateLimitWindow(StoredDocument):
    model_config = ConfigDict(populate_by_name=True)

    id: str  # type: ignore[assignment]  # "<key>:<window>"
    key: str
    window: int
    # Stored as `count`; named `hits` here because `Document.count` is a query method.
    hits: int = Field(default=1, alias="count")
    expires_at: datetime

    class Settings:
        name = "rate_limits"
        indexes = [IndexModel([("expires_at", ASCENDING)], name="expires_at")]

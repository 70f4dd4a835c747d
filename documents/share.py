"""Share links: a conversation or a site shown to anyone holding the link, as it was (snapshot)
or as it is (live), with expiry, a view limit, an optional password, and revocation.

The link's token is stored only as its sha256 (like an API key's secret), so the owner sees the
link once, when it is made. `views_left` counts down from `max_views` in the same guarded
update that counts a view, so concurrent viewers never get more views than allowed.
Shares live in a small collection with a global unique key (the token's hash) that stays
unsharded, like `api_keys` (README "Scaling").
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument

SNAPSHOT_PART_MESSAGES = 100


ShareResource = Literal["conversation", "site"]
ShareMode = Literal["snapshot", "live"]


class Share(OwnedDocument):
    noun = "share"
    resource: ShareResource
    resource_id: PydanticObjectId
    mode: ShareMode
    token_hash: str
    up_to_message_id: PydanticObjectId | None = None
    version: int | None = None  # a site snapshot's pinned version
    title: str | None = None  # a conversation snapshot's title as it was
    expires_at: datetime | None = None
    max_views: int | None = None
    views: int = 0
    views_left: int | None = None  # max_views - views; None when unlimited
    # `share.exhausted` is in the outbox (`app/webhooks/events.py`).
    exhausted_recorded: bool = False
    last_viewed_at: datetime | None = None
    password_hash: str | None = None
    revoked_at: datetime | None = None

    class Settings:
        name = "shares"
        indexes = [
            IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("views_left", ASCENDING)], name="views_left"),
            IndexModel(
                [("owner_id", ASCENDING), ("resource", ASCENDING), ("resource_id", ASCENDING)],
                name="owner_resource",
            ),
        ]


class SharedMessage(BaseModel):
    """A message as a share shows it: no usage, model or metadata."""

    id: PydanticObjectId
    seq: int
    role: str
    content: str
    type: str = "text"
    parent_id: PydanticObjectId | None = None
    created_at: datetime
    edited_at: datetime | None = None


class ShareSnapshot(OwnedDocument):
    """The messages of a conversation snapshot, `SNAPSHOT_PART_MESSAGES` per part, copied when
    the share was made: later edits, appends and deletions do not reach them."""

    noun = "share snapshot"
    share_id: PydanticObjectId
    part: int
    messages: list[SharedMessage] = Field(default_factory=list)

    class Settings:
        name = "share_snapshots"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("share_id", ASCENDING), ("part", ASCENDING)],
                unique=True,
                name="owner_share_part",
            ),
        ]

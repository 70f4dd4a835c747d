"""Share links: making them, the owner's list and changes, and what a viewer gets.

A view is counted by one guarded findAndModify (not revoked, not expired, `views_left` above
zero or unlimited), so concurrent viewers never get more views than `max_views`. A password is
checked before the view is counted; wrong passwords are counted per share and minute in the
same fixed windows as API-key limits, and the 11th within a minute is refused with 429.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import UpdateResponse
from bson import ObjectId

from app.auth.rate_limit import WINDOW_SECONDS, count_request, current_count
from app.auth.scoping import owned, parse_object_id
from app.auth.security import hash_password, new_secret, sha256_hex, verify_password
from app.conversations import history, window
from app.engine import retrying
from app.errors import Conflict, Gone, NotFound, TooManyRequests, Unauthorized, Unprocessable
from app.observability import SHARE_VIEWS
from app.pagination import CursorParams, Page
from app.shares.schemas import ConversationShareCreate, ShareLimits, SharePatch, SiteShareCreate
from app.sites.versions import existing_version, file_at
from app.webhooks import events
from documents.base import utcnow
from documents.conversation import Conversation
from documents.share import SNAPSHOT_PART_MESSAGES, Share, SharedMessage, ShareSnapshot
from documents.site import Site, SiteCard, SiteFile
from documents.user import User

TOKEN_BYTES = 24  # 192 random bits
MAX_WRONG_PASSWORDS = 10
# The last permitted view of a site may still load its page's other files for this long.
ASSET_GRACE_SECONDS = 600


def _limits(body: ShareLimits) -> dict[str, Any]:
    return {
        "expires_at": body.expires_at,
        "max_views": body.max_views,
        "views_left": body.max_views,
        "password_hash": hash_password(body.password) if body.password else None,
    }


async def _insert(share: Share) -> tuple[Share, str]:
    token = new_secret(TOKEN_BYTES)
    share.token_hash = sha256_hex(token)
    await share.insert()
    return share, token


# --- making shares ---------------------------------------------------------------------------


async def _target_seq(raw: dict[str, Any], message_id: ObjectId) -> int:
    """The seq of a message of this conversation (window or archives), or 422."""
    for message in window.window_with_seq(raw):
        if message["id"] == message_id:
            return message["seq"]
    found = await history.archived_message(raw["owner_id"], raw["_id"], message_id)
    if found is None:
        raise Unprocessable(
            "`up_to_message_id` is not a message of this conversation.",
            field="body.up_to_message_id",
        )
    return found["seq"]


async def share_conversation(
    user: User, conversation_id: str, body: ConversationShareCreate
) -> tuple[Share, str]:
    """A snapshot copies the messages up to the target now (parts first, then the share: a
    crash in between leaves only parts no share names); a live share reads them at view time."""
    raw = await window.read_conversation(window.conversations_of(user), conversation_id)
    target = parse_object_id(body.up_to_message_id) if body.up_to_message_id else None
    seq = await _target_seq(raw, target) if target else raw.get("message_count", 0)
    share = owned(Share, user).new(
        id=ObjectId(),  # the snapshot's parts name it before it is inserted
        resource="conversation",
        resource_id=raw["_id"],
        mode=body.mode,
        up_to_message_id=target,
        title=raw.get("title"),
        token_hash="",
        **_limits(body),
    )
    if body.mode == "snapshot":
        messages = [_shown(m) for m in await history.messages_between(raw, 1, seq)]
        snapshots = owned(ShareSnapshot, user)
        for part, start in enumerate(range(0, len(messages), SNAPSHOT_PART_MESSAGES)):
            chunk = messages[start : start + SNAPSHOT_PART_MESSAGES]
            await snapshots.new(share_id=share.id, part=part, messages=chunk).insert()
        if messages and target is None:
            share.up_to_message_id = messages[-1].id
    return await _insert(share)


async def share_site(user: User, site_id: str, body: SiteShareCreate) -> tuple[Share, str]:
    """A snapshot pins a version (default: the current one); a live share follows the current
    version. The site need not be published."""
    site = await owned(Site, user).get_or_404(site_id, projection_model=SiteCard)
    version = existing_version(site, body.version)
    share = owned(Share, user).new(
        resource="site",
        resource_id=site.id,
        mode=body.mode,
        version=version if body.mode == "snapshot" else None,
        token_hash="",
        **_limits(body),
    )
    return await _insert(share)


# --- the owner's shares ----------------------------------------------------------------------


async def list_shares(user: User, params: CursorParams, *, resource: str | None) -> Page[Share]:
    return await owned(Share, user).list_page(
        params, extra={"resource": resource} if resource else None
    )


async def get_share(user: User, share_id: str) -> Share:
    return await owned(Share, user).get_or_404(share_id)


async def update_share(user: User, share_id: str, patch: SharePatch) -> Share:
    """`views_left` follows a new `max_views` in an update guarded by the views counted so far:
    a view counted meanwhile makes it miss, and it is recomputed."""
    scope = owned(Share, user)
    fields = patch.model_fields_set
    changes: dict[str, Any] = {"updated_at": utcnow()}
    if "expires_at" in fields:
        changes["expires_at"] = patch.expires_at
    if "password" in fields:  # hashed once, outside the retries
        changes["password_hash"] = hash_password(patch.password) if patch.password else None
    for _attempt in range(5):
        share = await scope.get_or_404(share_id)
        if "max_views" in fields:
            changes["max_views"] = patch.max_views
            left = None if patch.max_views is None else max(0, patch.max_views - share.views)
            changes["views_left"] = left
        updated = await scope.update(share.id, {"$set": changes}, extra={"views": share.views})
        if updated is not None:
            return updated
    raise Conflict("The share is being viewed too often to change now; try again.")


async def revoke_share(user: User, share_id: str) -> None:
    """One guarded update; a share revoked already stays as it was (and a foreign id is 404)."""
    now = utcnow()
    scope = owned(Share, user)
    revoked = await scope.update(
        share_id, {"$set": {"revoked_at": now, "updated_at": now}}, extra={"revoked_at": None}
    )
    if revoked is None:
        await scope.get_or_404(share_id)


# --- viewing ---------------------------------------------------------------------------------


def _shown(message: dict[str, Any]) -> SharedMessage:
    return SharedMessage.model_validate(message)


def _unusable(share: Share, now: datetime) -> str | None:
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at is not None and share.expires_at <= now:
        return "expired"
    if share.views_left is not None and share.views_left <= 0:
        return "exhausted"
    return None


GONE = {
    "revoked": "This share link was revoked by its owner.",
    "expired": "This share link has expired.",
    "exhausted": "This share link has been viewed as many times as its owner allowed.",
    "trashed": "What this link shares is in its owner's trash.",
}


async def _find(token: str) -> Share:
    if not token or len(token) > 200:
        raise NotFound("No such share.")
    share = await Share.find_one({"token_hash": sha256_hex(token)})
    if share is None:
        raise NotFound("No such share.")
    return share


async def _check_password(share: Share, password: str | None) -> None:
    if share.password_hash is None:
        return
    window_number = int(time.time() // WINDOW_SECONDS)
    key = f"share-password:{share.id}"
    retry = {"Retry-After": str(WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS)}
    if await current_count(key, window_number) >= MAX_WRONG_PASSWORDS:
        raise TooManyRequests("Too many wrong passwords for this share; wait.", headers=retry)
    challenge = {"WWW-Authenticate": "Share-Password"}
    if not password:  # asking for the password is not a wrong guess
        raise Unauthorized(
            "This share needs its password in the `Share-Password` header.", headers=challenge
        )
    if len(password) <= 200 and verify_password(password, share.password_hash):
        return
    if await count_request(key, window_number) > MAX_WRONG_PASSWORDS:
        raise TooManyRequests("Too many wrong passwords for this share; wait.", headers=retry)
    raise Unauthorized("The share's password is not correct.", headers=challenge)


async def open_share(token: str, password: str | None, *, count_view: bool) -> Share:
    """The share behind `token` if it may be viewed now (404 unknown, 410 saying why not, 401
    or 429 for its password), with the view counted when `count_view`."""
    share = await _find(token)
    now = utcnow()
    reason = _unusable(share, now)
    if reason == "exhausted" and not count_view and share.last_viewed_at is not None:
        if (now - share.last_viewed_at).total_seconds() <= ASSET_GRACE_SECONDS:
            reason = None  # the last page view's own files
    if reason is None and await _shared_item_trashed(share):
        reason = "trashed"  # until it is restored
    if reason is not None:
        raise Gone(GONE[reason])
    await _check_password(share, password)
    if not count_view:
        return share
    counted = await retrying(lambda: _count_view(share, now))
    if counted is None:
        again = await _find(token)
        raise Gone(GONE[_unusable(again, utcnow()) or "exhausted"])
    SHARE_VIEWS.labels(share.resource).inc()
    if counted.views_left == 0:  # this view was the last: one viewer sees that
        await events.share_exhausted(counted)
    return counted


async def _shared_item_trashed(share: Share) -> bool:
    model = Conversation if share.resource == "conversation" else Site
    return await owned(model, share.owner_id, trash="only").exists(share.resource_id)


async def _count_view(share: Share, now: datetime) -> Share | None:
    """One findAndModify: a view counted only while the share is usable."""
    return await Share.find_one(
        {
            "_id": share.id,
            "revoked_at": None,
            "$and": [
                {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]},
                {"$or": [{"views_left": None}, {"views_left": {"$gt": 0}}]},
            ],
        }
    ).update(
        {
            "$inc": {"views": 1, **({"views_left": -1} if share.views_left is not None else {})},
            "$set": {"last_viewed_at": now},
        },
        response_type=UpdateResponse.NEW_DOCUMENT,
    )


@dataclass(frozen=True)
class SharedConversation:
    title: str | None
    mode: str
    shared_at: datetime
    messages: list[SharedMessage]


async def shared_conversation(share: Share) -> SharedConversation:
    if share.mode == "snapshot":
        parts = (
            await owned(ShareSnapshot, share.owner_id)
            .find({"share_id": share.id})
            .sort("part")
            .to_list()
        )
        messages = [m for part in parts for m in part.messages]
        title = share.title
    else:
        raw = await window.read_conversation(
            window.conversations_of(share.owner_id), share.resource_id
        )
        seq = raw.get("message_count", 0)
        if share.up_to_message_id is not None:
            seq = await _target_seq(raw, share.up_to_message_id)
        messages = [_shown(m) for m in await history.messages_between(raw, 1, seq)]
        title = raw.get("title")
    return SharedConversation(title, share.mode, share.created_at, messages)


async def shared_site_file(share: Share, path: str) -> tuple[ObjectId, SiteFile]:
    """A file of the shared version: the pinned one (snapshot) or the current one (live)."""
    if share.resource != "site":
        raise NotFound("No such file in this share.")
    site = await owned(Site, share.owner_id).get_or_404(share.resource_id)
    version = share.version if share.version is not None else site.current_version
    return site.owner_id, file_at(site, version, path)


async def delete_shares_of(owner: User | ObjectId, resource_ids: list[ObjectId]) -> None:
    """With their conversation or site: the snapshots first, then the shares."""
    shares = owned(Share, owner)
    ids = await shares.distinct("_id", {"resource_id": {"$in": resource_ids}})
    if ids:
        await owned(ShareSnapshot, owner).delete_many({"share_id": {"$in": ids}})
        await shares.delete_many({"_id": {"$in": ids}})

"""Conversation expiry, for the clean-up job."""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId

from app.auth.scoping import owned
from app.conversations.service import purge_conversation
from app.trash.moves import purge_one
from documents.conversation import Conversation, ConversationArchive, ConversationCard

# Buckets younger than this may belong to a fork whose conversation is not inserted yet.
ORPHAN_GRACE = timedelta(hours=1)


async def delete_expired(
    now: datetime, *, dry_run: bool = False, held: set[ObjectId] | None = None
) -> tuple[int, int]:
    """Conversations past `expires_at` with their archives, and archives whose conversation no
    longer exists. Returns (conversations, archive buckets) deleted.

    A sweep by date across every owner (not owner-scoped by design: README "Scaling"); the
    conversations of `held` owners (under a legal hold) stay."""
    due = {"expires_at": {"$lte": now}}
    cards = await Conversation.find(due, projection_model=ConversationCard).to_list()
    expired = [card.id for card in cards if not held or card.owner_id not in held]
    # Buckets of a conversation that is gone (a crash between the steps of a delete, or of a
    # fork that never inserted its conversation).
    settled = {"created_at": {"$lt": now - ORPHAN_GRACE}}
    archived_ids = await ConversationArchive.distinct("conversation_id", settled)
    live_ids = set(await Conversation.distinct("_id", {"_id": {"$in": archived_ids}}))
    orphaned = [cid for cid in archived_ids if cid not in live_ids]
    doomed = list(set(expired) | set(orphaned))
    buckets = await ConversationArchive.find({"conversation_id": {"$in": doomed}}).count()
    if not dry_run:
        if expired:
            await Conversation.find({"_id": {"$in": expired}, "expires_at": {"$lte": now}}).delete()
        if doomed:
            await ConversationArchive.find({"conversation_id": {"$in": doomed}}).delete()
    return len(expired), buckets


async def purge_temporary(
    now: datetime, keep: timedelta, *, held: set[ObjectId], dry_run: bool = False
) -> int:
    """Temporary conversations whose last activity is older than `keep`
    (`TEMPORARY_CHAT_HOURS`), purged for good (not trashed) with their archives and shares;
    those of owners under a legal hold stay. Each is deleted by one delete guarded by its
    activity, so an append racing the sweep keeps it, and two sweeps purge it once."""
    cutoff = now - keep
    due = {"temporary": True, "activity_at": {"$lt": cutoff}}
    purged = 0
    for card in await Conversation.find(due, projection_model=ConversationCard).to_list():
        owner = ObjectId(str(card.owner_id))
        if owner in held:
            continue
        if dry_run:
            purged += 1
        else:
            scope = owned(Conversation, owner, trash="include")
            purged += await purge_one(scope, card.id, purge_conversation, due)
    return purged

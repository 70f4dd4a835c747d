"""Conversation expiry, for the clean-up job."""

from __future__ import annotations

from datetime import datetime, timedelta

from documents.conversation import Conversation, ConversationArchive

# Buckets younger than this may belong to a fork whose conversation is not inserted yet.
ORPHAN_GRACE = timedelta(hours=1)


async def delete_expired(now: datetime, *, dry_run: bool = False) -> tuple[int, int]:
    """Conversations past `expires_at` with their archives, and archives whose conversation no
    longer exists. Returns (conversations, archive buckets) deleted.

    A sweep by date across every owner (not owner-scoped by design: README "Scaling")."""
    expired = await Conversation.distinct("_id", {"expires_at": {"$lte": now}})
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

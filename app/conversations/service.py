"""Conversations and their messages: appends, paging, search, edits, branches, forks and bulk
actions. How messages are stored (the window and its archive buckets) is `window.py`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.auth.scoping import parse_object_id
from app.conversations import history, window
from app.conversations.schemas import (
    BulkRequest,
    ConversationCreate,
    ConversationPatch,
    MessageCreate,
    MessageUsageIn,
)
from app.conversations.window import archives_of, conversations_of
from app.errors import Gone, NotFound, Unprocessable
from app.folders.placement import PLACEMENT_FIELDS, placement_changes
from app.links import require_owned_links
from app.money import to_micros
from app.pagination import CursorParams, Page, position_of
from app.search.text import folded_field
from app.shares.service import delete_shares_of
from app.trash.moves import discard_or_404
from app.usage.ledger import record_usage_event
from app.webhooks import events
from documents.base import day_of, utcnow
from documents.conversation import (
    MESSAGE_OVERHEAD_BYTES,
    WINDOW_KEEP_MESSAGES,
    ConversationCard,
    Message,
    TokenUsage,
)
from documents.user import User

TITLE_LENGTH = 60
EDIT_ATTEMPTS = 5


def title_from(content: str) -> str:
    """About 60 characters of the first user message, cut at a word boundary."""
    text = " ".join(content.split())
    if len(text) <= TITLE_LENGTH:
        return text
    cut = text[: TITLE_LENGTH + 1].rsplit(" ", 1)[0]
    if len(cut) < TITLE_LENGTH // 2:  # one very long word: cut inside it
        cut = text[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:-") + "…"


# --- conversations ---------------------------------------------------------------------------


async def create_conversation(user: User, body: ConversationCreate) -> ConversationCard:
    links = await require_owned_links(user, project_id=body.project_id, site_id=body.site_id)
    now = utcnow()
    conversation = conversations_of(user).new(
        title=body.title,
        context=body.context,
        metadata=body.metadata,
        expires_at=body.expires_at,
        temporary=body.temporary,
        activity_at=now,
        created_at=now,
        updated_at=now,
        **links,
    )
    await conversation.insert()
    return ConversationCard.model_validate(conversation.model_dump(by_alias=True))


async def get_conversation(user: User, conversation_id: str) -> ConversationCard:
    return await conversations_of(user).get_or_404(
        conversation_id, projection_model=ConversationCard
    )


async def list_conversations(
    user: User,
    params: CursorParams,
    *,
    q: str | None,
    project_id: str | None,
    archived: bool,
    temporary: bool = False,
    placed: dict[str, Any] | None = None,
) -> Page[ConversationCard]:
    temporary_only = {"temporary": True} if temporary else {"temporary": {"$ne": True}}
    conditions: list[dict[str, Any]] = [{"archived": archived}, temporary_only, placed or {}]
    if project_id is not None:
        conditions.append({"project_id": parse_object_id(project_id)})
    if q:
        conditions.append(await history.containing(ObjectId(str(user.id)), q))
    return await conversations_of(user).list_page(
        params,
        extra={"$and": conditions},
        sort_field="activity_at",
        projection_model=ConversationCard,
        pinned_first=True,
    )


async def update_conversation(
    user: User, conversation_id: str, patch: ConversationPatch
) -> ConversationCard:
    changes = patch.model_dump(exclude_unset=True, exclude=PLACEMENT_FIELDS)
    changes |= await placement_changes(user, patch) | {"updated_at": utcnow()}
    updated = await conversations_of(user).update_or_404(conversation_id, {"$set": changes})
    return ConversationCard.model_validate(updated.model_dump(by_alias=True))


async def delete_conversation(user: User, conversation_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) gone with its archives and shares."""
    scope = conversations_of(user)
    await discard_or_404(scope, conversation_id, permanent=permanent, purge=purge_conversation)


async def purge_conversation(owner_id: ObjectId, oid: ObjectId) -> None:
    """What goes with a deleted conversation: the conversation first (what the user sees),
    then its archives; `cleanup` removes any archives a crash in between leaves behind."""
    await archives_of(owner_id).delete_many({"conversation_id": oid})
    await delete_shares_of(owner_id, [oid])


async def bulk_action(user: User, body: BulkRequest) -> int:
    ids = [ObjectId(value) for value in dict.fromkeys(body.ids)]
    scope = conversations_of(user)
    if body.action in ("archive", "unarchive"):
        return await scope.update_many(
            {"_id": {"$in": ids}},
            {"$set": {"archived": body.action == "archive", "updated_at": utcnow()}},
        )
    # Into the trash, as a delete of each would.
    return await scope.update_many({"_id": {"$in": ids}}, {"$set": {"trashed_at": utcnow()}})


# --- messages --------------------------------------------------------------------------------


def _new_message(body: MessageCreate, now: datetime) -> window.RawMessage:
    message = Message(
        id=ObjectId(),
        role=body.role,
        content=body.content,
        type=body.type,
        parent_id=ObjectId(body.parent_id) if body.parent_id else None,
        model=body.model,
        usage=None if body.usage is None else _token_usage(body.usage),
        site_version=body.site_version,
        created_at=now,
        day=day_of(now),
        size=len(body.content.encode()) + MESSAGE_OVERHEAD_BYTES,
        folded=folded_field(body.content),
    )
    # Absent rather than null: 20,000 messages of nulls add up, and readers default them.
    return message.model_dump(exclude_none=True)


def _token_usage(usage: MessageUsageIn) -> TokenUsage:
    return TokenUsage(
        provider=usage.provider,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        cost_micros=None if usage.cost_usd is None else to_micros(usage.cost_usd),
    )


async def append_message(user: User, conversation_id: str, body: MessageCreate) -> Message:
    """One findAndModify in the common case (`window.append`); a miss is explained by a read
    afterwards."""
    scope = conversations_of(user)
    now = utcnow()
    message = _new_message(body, now)
    live = {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}
    parent_id = message.get("parent_id")
    in_window = {**live, "messages.id": parent_id} if parent_id is not None else live
    appended = await window.append(scope, conversation_id, message, in_window)
    if appended is None:
        await _explain_failed_append(user, conversation_id, parent_id, now)
        # The parent is archived (it exists for good): append without the window check.
        appended = await window.append(scope, conversation_id, message, live)
        if appended is None:
            await _explain_failed_append(user, conversation_id, None, now)
            raise scope.not_found()
    if appended.untitled and body.role == "user":
        await window.set_first_title(scope, appended.conversation_id, title_from(body.content))
    if body.usage is not None:
        await record_usage_event(
            user,
            request_id=f"message:{message['id']}",
            provider=body.usage.provider or "unspecified",
            model=body.model or "unspecified",
            operation="chat",
            prompt_tokens=body.usage.prompt_tokens,
            completion_tokens=body.usage.completion_tokens,
            cost_micros=to_micros(body.usage.cost_usd or 0),
            source="message",
            conversation_id=appended.conversation_id,
            occurred_at=now,
        )
    await events.message_appended(scope.owner_id, appended.conversation_id, message, appended.seq)  # type: ignore[arg-type]
    if appended.needs_roll:
        await window.roll_window(scope.owner_id, appended.conversation_id)  # type: ignore[arg-type]
    return Message.model_validate(window.with_seq(message, appended.seq))


async def _explain_failed_append(
    user: User, conversation_id: str, parent_id: ObjectId | None, now: datetime
) -> None:
    """Raise the error that made the append's filter miss; return if the parent is archived."""
    conversation = await get_conversation(user, conversation_id)
    if conversation.expires_at is not None and conversation.expires_at <= now:
        raise Gone("This conversation has expired.")
    if parent_id is not None:
        where = {"conversation_id": conversation.id, "messages.id": parent_id}
        if await history.in_archives(conversation.owner_id, where):
            return
        raise Unprocessable(
            "`parent_id` does not name a message of this conversation.", field="body.parent_id"
        )


async def list_messages(
    user: User, conversation_id: str, params: CursorParams, *, q: str | None, before: int | None
) -> Page[Message]:
    """Without `q`: the latest `limit` messages before the cursor, in seq order, across window
    and archives (one read of the conversation, plus one of the buckets when the page reaches
    past the window). With `q`: the messages containing `q` in the whole history, newest
    first. A page's `next_cursor` is the seq to continue below — what it always was, so clients
    that pass it as `before` (deprecated) keep working while new ones pass it as `cursor`."""
    if params.cursor is not None and before is not None:
        raise Unprocessable("Send `cursor` or `before`, not both.", field="query.before")
    below = before if params.cursor is None else position_of(params.cursor)
    raw = await window.read_conversation(conversations_of(user), conversation_id)
    limit = params.limit
    if q:
        pattern = history.literal_pattern(q)
        found = window.as_messages(await history.search(raw, q, pattern, limit + 1, below))
        more = len(found) > limit
        return Page(items=found[:limit], next_cursor=str(found[limit - 1].seq) if more else None)
    count = raw.get("message_count", 0)
    high = count if below is None else min(below - 1, count)
    if high < 1:
        return Page(items=[])
    low = max(1, high - limit + 1)
    items = window.as_messages(await history.messages_between(raw, low, high))
    return Page(items=items, next_cursor=str(low) if low > 1 else None)


async def edit_message(user: User, conversation_id: str, message_id: str, content: str) -> Message:
    """Every copy is edited: the window's and, for an archived message, its bucket's; retried
    when a roll moves the message between the read and the write."""
    target = parse_object_id(message_id)
    if target is None:
        raise NotFound("No such message.")
    scope = conversations_of(user)
    now = utcnow()
    for _attempt in range(EDIT_ATTEMPTS):
        edited = await window.edit_in_window(scope, conversation_id, target, content, now)
        if edited is None:
            continue  # a roll moved it between our read and write
        raw, in_window = edited
        in_archive = await window.edit_in_archive(
            scope.owner_id,  # type: ignore[arg-type]
            raw["_id"],
            target,
            content,
            now,
        )
        if in_window or in_archive:
            return Message.model_validate(in_window or in_archive)
        raise NotFound("No such message.")
    raise NotFound("The message kept moving; try again.")


async def branch_messages(
    user: User, conversation_id: str, message_id: str
) -> tuple[dict[str, Any], list[Message]]:
    """Root → message, following `parent_id`."""
    target = parse_object_id(message_id)
    if target is None:
        raise NotFound("No such message.")
    raw = await window.read_conversation(conversations_of(user), conversation_id)
    path = await history.branch_path(raw, target)
    if path is None:
        raise NotFound("No such message.")
    return raw, window.as_messages(path)


async def fork_conversation(user: User, conversation_id: str, message_id: str) -> ConversationCard:
    """A new conversation holding the branch up to `message_id`: new ids, the same parent shape.
    The older part goes straight into archive buckets (first), then the conversation document
    is inserted; a crash in between leaves only orphan buckets, which `cleanup` removes."""
    source, path = await branch_messages(user, conversation_id, message_id)
    now = utcnow()
    new_ids = {m.id: ObjectId() for m in path}
    copied = []
    for seq, message in enumerate(path, start=1):
        parent = new_ids.get(message.parent_id) if message.parent_id else None
        copy = message.model_copy(update={"id": new_ids[message.id], "parent_id": parent})
        copied.append(window.with_seq(copy.model_dump(exclude_none=True, exclude={"seq"}), seq))
    keep = min(len(copied), WINDOW_KEEP_MESSAGES)
    older, recent = copied[: len(copied) - keep], copied[len(copied) - keep :]
    conversation_oid = ObjectId()
    await window.copy_history(ObjectId(str(user.id)), conversation_oid, older)
    conversation = conversations_of(user).new(
        id=conversation_oid,
        title=source.get("title"),
        project_id=source.get("project_id"),
        site_id=source.get("site_id"),
        context=source.get("context"),
        metadata=source.get("metadata"),
        forked_from={"conversation_id": source["_id"], "message_id": path[-1].id},
        messages=[{k: v for k, v in m.items() if k != "seq"} for m in recent],
        message_count=len(copied),
        archived_count=len(older),
        window_bytes=sum(m.get("size", 0) for m in recent),
        last_message_at=path[-1].created_at if path else None,
        activity_at=now,
        created_at=now,
        updated_at=now,
    )
    await conversation.insert()
    return ConversationCard.model_validate(conversation.model_dump(by_alias=True))


async def message_exists(
    user: User | ObjectId, message_id: ObjectId, conversation_id: ObjectId | None = None
) -> bool:
    """Whether `message_id` is a message of one of the caller's conversations (of
    `conversation_id`, when given), in a window or an archive."""
    where: dict[str, Any] = {"messages.id": message_id}
    if conversation_id is not None:
        where["_id"] = conversation_id
    if await conversations_of(user).any(where):
        return True
    where.pop("_id", None)
    if conversation_id is not None:
        where["conversation_id"] = conversation_id
    owner = user if isinstance(user, ObjectId) else ObjectId(str(user.id))
    return await history.in_archives(owner, where)

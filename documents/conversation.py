"""Conversations embed a bounded window of their newest messages; older ones live in archives.

`seq` is a message's 1-based position in its conversation. An append is one findAndModify that
`$push`es the message and `$inc`s `message_count`, so the server orders appends and the new count
is the new message's seq. Inside the window, a message's seq is therefore `archived_count + index
+ 1` (the window always holds seqs archived_count+1 … message_count in order); the archive copy
stores it explicitly. Archives are buckets of `ARCHIVE_BUCKET_SIZE` consecutive seqs, so a seq's
bucket is known without a lookup and copying into it is idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, TEXT, IndexModel

from documents.base import OwnedDocument
from documents.folder import Placement, placement_indexes
from documents.trash import Trashable

# The window rolls into archives past either bound, down to the keep targets.
WINDOW_MAX_MESSAGES = 100
WINDOW_MAX_BYTES = 1024 * 1024
WINDOW_KEEP_MESSAGES = 50
WINDOW_KEEP_BYTES = 512 * 1024
# 10 messages of at most 1 MiB each keep a bucket far below the 16 MiB document limit.
ARCHIVE_BUCKET_SIZE = 10
MESSAGE_OVERHEAD_BYTES = 256


MessageRole = Literal["user", "assistant", "system"]
MessageType = Literal["text", "code", "image"]


class TokenUsage(BaseModel):
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int | None = None  # absent when the client sent no cost


class Message(BaseModel):
    id: PydanticObjectId
    seq: int | None = None  # stored in archives; derived from position inside the window
    role: MessageRole
    content: str
    type: MessageType = "text"
    parent_id: PydanticObjectId | None = None
    model: str | None = None
    usage: TokenUsage | None = None
    site_version: int | None = None
    created_at: datetime
    edited_at: datetime | None = None
    day: str
    size: int = 0  # approximate stored bytes, for the window's byte bound
    # Kept apart from `content` (imported reasoning is never answer text).
    reasoning: str | None = None
    status: str | None = None  # an unfinished message, as an import found it ("interrupted")
    metadata: dict[str, Any] | None = None  # citations, attachments' text, tool calls
    file_ids: list[PydanticObjectId] | None = None  # the owner's files it carries (imports)
    # `content` case- and diacritic-folded, stored only where it differs from the lower-cased
    # content: what a text index that is diacritic-sensitive matches accent-free queries by.
    folded: str | None = None


class ConversationSource(BaseModel):
    """Where an imported conversation came from: re-imports find it by this."""

    kind: str
    id: str


class ForkOrigin(BaseModel):
    conversation_id: PydanticObjectId
    message_id: PydanticObjectId


def message_text_index() -> IndexModel:
    """The text index of a collection of messages (window or archive), where the engine has
    text indexes (`app/engine/`): tokens as written (no stemming, no stop words), the owner
    first so every search stays in one owner's entries."""
    return IndexModel(
        [("owner_id", ASCENDING), ("messages.content", TEXT), ("messages.folded", TEXT)],
        name="owner_message_text",
        default_language="none",
    )


class ConversationFields(Placement):
    """What a conversation holds besides its messages: shared by the document and its
    message-less projection."""

    title: str | None = None
    project_id: PydanticObjectId | None = None
    site_id: PydanticObjectId | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    expires_at: datetime | None = None
    # Purged (not trashed) TEMPORARY_CHAT_HOURS after its last activity; listed only on request.
    temporary: bool = False
    archived: bool = False
    forked_from: ForkOrigin | None = None
    source: ConversationSource | None = None
    # The leaf of the branch the conversation is on: the last appended message, or an
    # import's current node.
    current_message_id: PydanticObjectId | None = None
    message_count: int = 0
    last_message_at: datetime | None = None
    # last_message_at, or created_at before the first message: the list's sort key.
    activity_at: datetime


class Conversation(OwnedDocument, ConversationFields, Trashable):
    noun = "conversation"
    messages: list[Message] = Field(default_factory=list)
    archived_count: int = 0
    window_bytes: int = 0
    # Incremented by every write to `messages`; a roll's final write is guarded by it.
    revision: int = 0
    rolling_until: datetime | None = None

    class Settings:
        name = "conversations"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("activity_at", DESCENDING), ("_id", DESCENDING)],
                name="owner_activity",
            ),
            IndexModel(
                [("owner_id", ASCENDING), ("last_message_at", DESCENDING)],
                name="owner_last_message",
            ),
            IndexModel([("expires_at", ASCENDING)], name="expires_at"),
            *placement_indexes("activity_at"),
            message_text_index(),
        ]


class ConversationCard(ConversationFields):
    """Projection: a conversation without its window of messages."""

    keep: bool = False
    id: PydanticObjectId = Field(alias="_id")
    owner_id: PydanticObjectId
    created_at: datetime
    updated_at: datetime

    class Settings:
        projection = {"messages": 0}


class ConversationArchive(OwnedDocument):
    noun = "archive bucket"
    conversation_id: PydanticObjectId
    bucket: int
    messages: list[Message] = Field(default_factory=list)

    class Settings:
        name = "conversation_archives"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("conversation_id", ASCENDING), ("bucket", ASCENDING)],
                unique=True,
                name="owner_conversation_bucket",
            ),
            message_text_index(),
        ]


def bucket_of(seq: int) -> int:
    return (seq - 1) // ARCHIVE_BUCKET_SIZE

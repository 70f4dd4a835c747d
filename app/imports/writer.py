"""Writing one settled conversation of an export into the owner's conversations.

Ids are derived from the source: the conversation's from (owner, format, source id), each
message's from (conversation, source message id). So importing the same file again finds every
conversation and message it wrote, a later export of the same conversation adds only the
messages that are new, and two imports racing on one file insert each conversation once (the
second insert of the same `_id` is refused; `engine.insert_unless_exists`).

A new conversation is written whole or not at all: its older messages go into archive buckets
first, then the conversation document is inserted, which is the moment it exists (a crash in
between leaves orphan buckets that `cleanup` removes, as for a fork). New messages of an existing
conversation are appended in batches guarded by the window's revision, each batch rolled into the
archive like appended messages are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from bson import ObjectId

from app import engine
from app.conversations import history, window
from app.conversations.schemas import MAX_CONTENT_BYTES
from app.imports.attachments import AttachmentRefused, FileStore, PlannedFile, plan_files
from app.imports.shape import ImportedConversation, Settled
from app.search.text import folded_field
from documents.base import day_of, to_millis, utcnow
from documents.conversation import (
    MESSAGE_OVERHEAD_BYTES,
    WINDOW_KEEP_BYTES,
    WINDOW_KEEP_MESSAGES,
    WINDOW_MAX_BYTES,
    Conversation,
)

MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 16
MAX_TITLE = 200


class ConversationRefused(ValueError):
    """This conversation cannot be imported as it is (the report says why); nothing of it was
    written."""


@dataclass
class Written:
    outcome: str  # created | updated | unchanged
    conversation_id: ObjectId
    messages_added: int = 0
    branches: int = 0
    problems: list[str] = field(default_factory=list)
    files: int = 0  # files stored


def _derived_ids(*prefix: str) -> Callable[[str], ObjectId]:
    """Ids derived from the source (sha256 of the parts, cut to 12 bytes): the same on every
    import of the same thing. For many ids under one prefix, the prefix is hashed once."""
    hashed = hashlib.sha256(("\x1f".join(prefix) + "\x1f").encode())

    def derive(last: str) -> ObjectId:
        digest = hashed.copy()
        digest.update(last.encode())
        return ObjectId(digest.digest()[:12])

    return derive


def conversation_id_for(owner_id: ObjectId, kind: str, source_id: str) -> ObjectId:
    return _derived_ids("conversation", str(owner_id), kind)(source_id)


def message_id_for(conversation_id: ObjectId, source_id: str) -> ObjectId:
    return _derived_ids("message", str(conversation_id))(source_id)


def safe_metadata(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Metadata from an export as a store may hold it: keys that look like operators or paths
    (`$where`, `a.b`) renamed, nesting and size bounded. (the value, a problem to report)."""
    if value is None:
        return None, None

    def clean(node: Any, depth: int) -> Any:
        if depth > MAX_METADATA_DEPTH:
            raise ConversationRefused("metadata nested too deeply")
        if isinstance(node, dict):
            return {
                _safe_key(str(k)): clean(v, depth + 1)
                for k, v in node.items()  # keys from JSON are strings
            }
        if isinstance(node, list):
            return [clean(v, depth + 1) for v in node]
        if isinstance(node, (str, int, float, bool)) or node is None:
            return node
        return str(node)

    try:
        cleaned = clean(value, 0)
    except (ConversationRefused, RecursionError):
        return None, "metadata nested too deeply was dropped"
    if len(json.dumps(cleaned, default=str).encode()) > MAX_METADATA_BYTES:
        return None, f"metadata larger than {MAX_METADATA_BYTES} bytes was dropped"
    return cleaned, None


def _safe_key(key: str) -> str:
    key = key.replace(".", "_").replace("\x00", "")
    return "_" + key[1:] if key.startswith("$") else (key or "_")


def build_messages(
    conversation_id: ObjectId, settled: Settled
) -> tuple[list[dict[str, Any]], list[PlannedFile], list[str]]:
    """The stored form of every settled message, in order, and the files they name;
    ConversationRefused for a message the store cannot hold."""
    problems: list[str] = []
    raws: list[dict[str, Any]] = []
    files: list[PlannedFile] = []
    message_id = _derived_ids("message", str(conversation_id))
    ids = {item.message.source_id: message_id(item.message.source_id) for item in settled.messages}
    for item in settled.messages:
        message = item.message
        content = message.content
        if "\x00" in content:
            raise ConversationRefused(f"message {message.source_id!r} contains NUL characters")
        size = len(content.encode())
        if size > MAX_CONTENT_BYTES:
            raise ConversationRefused(
                f"message {message.source_id!r} is {size} bytes, over the {MAX_CONTENT_BYTES} "
                "bytes a message may hold"
            )
        metadata, problem = safe_metadata(message.metadata)
        if problem:
            problems.append(f"message {message.source_id!r}: {problem}")
        file_ids = None
        if message.files:
            names = [f.name for f in message.files]
            metadata = {**(metadata or {}), "files": names}
            file_id = _derived_ids("file", str(conversation_id))
            stored_files = plan_files(ids[message.source_id], message.files, file_id)
            files.extend(stored_files)
            file_ids = [f.file_id for f in stored_files] or None
        kind = "code" if (metadata or {}).get("type") == "code" else "text"
        reasoning = message.reasoning[:MAX_CONTENT_BYTES] if message.reasoning else None
        # The stored form of `Message`, built directly from values this module typed (a
        # pydantic round trip per message was a third of an import's time); absent, not
        # null, as appends store them.
        stored: dict[str, Any] = {
            "id": ids[message.source_id],
            "role": message.role,
            "content": content,
            "type": kind,
            "created_at": to_millis(item.created_at),
            "day": day_of(item.created_at),
            "size": size + len((reasoning or "").encode()) + MESSAGE_OVERHEAD_BYTES,
        }
        for key, value in (
            ("parent_id", ids[item.parent] if item.parent else None),
            ("model", message.model[:128] if message.model else None),
            ("reasoning", reasoning),
            ("status", message.status[:64] if message.status else None),
            ("metadata", metadata),
            ("file_ids", file_ids),
            ("folded", folded_field(content)),
        ):
            if value is not None:
                stored[key] = value
        raws.append(stored)
    return raws, files, problems


def _branches(raws: list[dict[str, Any]], known_parents: set[ObjectId]) -> int:
    """Messages that start a branch: a second (or later) child of one parent."""
    seen = set(known_parents)
    count = 0
    for raw in raws:
        parent = raw.get("parent_id")
        if parent is None:
            continue
        if parent in seen:
            count += 1
        seen.add(parent)
    return count


@dataclass
class Planned:
    """A conversation ready to write: its derived ids and stored messages."""

    owner_id: ObjectId
    source: ImportedConversation
    conversation_id: ObjectId
    raws: list[dict[str, Any]]
    current: ObjectId | None
    problems: list[str]
    files: list[PlannedFile] = field(default_factory=list)

    def created(self, files: int) -> Written:
        branches = _branches(self.raws, set())
        return Written(
            "created", self.conversation_id, len(self.raws), branches, self.problems, files
        )

    @cached_property
    def bytes(self) -> int:
        return sum(raw["size"] for raw in self.raws)

    @property
    def fits_window(self) -> bool:
        """Whole in its window, no archive (within the bounds an append leaves a window in):
        one row of a batch insert."""
        return len(self.raws) <= WINDOW_KEEP_MESSAGES and self.bytes <= WINDOW_MAX_BYTES


def plan(owner_id: ObjectId, conversation: ImportedConversation, settled: Settled) -> Planned:
    """ConversationRefused when nothing of it can be written."""
    conversation_id = conversation_id_for(owner_id, conversation.kind, conversation.source_id)
    raws, files, problems = build_messages(conversation_id, settled)
    if not raws:
        raise ConversationRefused("no message of it can be imported")
    current = message_id_for(conversation_id, settled.current) if settled.current else None
    problems = settled.problems + problems
    return Planned(owner_id, conversation, conversation_id, raws, current, problems, files)


async def write_new(owner_id: ObjectId, batch: list[Planned]) -> list[Written | None]:
    """Conversations that fit their window, in one `insert_many` (raw driver: Beanie's does
    not say which rows a unique index refused): most of an export's conversations are new on
    its first import. None for each that exists already (the caller writes those one by one)."""
    if not batch:
        return []
    scope = window.conversations_of(owner_id)
    rows = []
    template: dict[str, Any] | None = None
    for planned in batch:
        # The messages were validated as they were built, and the fields this module sets
        # were typed here: one document per batch is validated (its defaults are every row's),
        # the rows are that document's with their own fields.
        fields = _fields(planned, planned.raws)
        if template is None:
            template = _document(planned, []).model_dump(by_alias=True, exclude={"revision_id"})
        rows.append({**template, **fields})
    refused = await engine.insert_rows_unless_exist(scope.collection, rows)
    return [None if i in refused else planned.created(0) for i, planned in enumerate(batch)]


async def write_conversation(
    planned: Planned,
    *,
    dry_run: bool,
    known: tuple[int, set] | None = None,
    file_store: FileStore | None = None,
) -> Written:
    """A conversation that may exist: created when it does not (its files first, then its
    archives), else given the messages it lacks (their files first). `known`: its
    `history.message_ids`, when the caller read them. ConversationRefused when its files
    cannot be stored: then nothing of it was written."""
    owner_id, conversation_id, raws = planned.owner_id, planned.conversation_id, planned.raws
    scope = window.conversations_of(owner_id)
    revision, existing = known or await history.message_ids(scope, conversation_id)
    files = 0
    if revision < 0:
        if dry_run:
            return planned.created(len(planned.files))
        files = await _store_files(planned, planned.files, file_store)
        if await _create(planned):
            return planned.created(files)
        revision, existing = await history.message_ids(scope, conversation_id)
    new = [raw for raw in raws if raw["id"] not in existing]
    if not new:
        return Written("unchanged", conversation_id, problems=planned.problems, files=files)
    branches = _branches(new, _parents_with_children(raws, existing))
    new_ids = {raw["id"] for raw in new}
    new_files = [f for f in planned.files if f.message_id in new_ids]
    if dry_run:
        return Written(
            "updated", conversation_id, len(new), branches, planned.problems, len(new_files)
        )
    files += await _store_files(planned, new_files, file_store)
    added = await _append(owner_id, conversation_id, new, planned.current, revision)
    if not added:
        return Written("unchanged", conversation_id, problems=planned.problems, files=files)
    return Written("updated", conversation_id, added, branches, planned.problems, files)


async def _store_files(
    planned: Planned, files: list[PlannedFile], file_store: FileStore | None
) -> int:
    if not files or file_store is None:
        return 0
    try:
        return await file_store.store(planned.owner_id, planned.conversation_id, files)
    except AttachmentRefused as exc:
        raise ConversationRefused(f"its files could not be stored: {exc}") from exc


def _parents_with_children(raws: list[dict[str, Any]], existing: set[ObjectId]) -> set[ObjectId]:
    return {raw["parent_id"] for raw in raws if raw["id"] in existing and raw.get("parent_id")}


def _window_fields(raws: list[dict[str, Any]], recent: list[dict[str, Any]]) -> dict[str, Any]:
    """What holding `recent` (the newest of `raws`) in the window sets."""
    return {
        "messages": [
            {k: v for k, v in raw.items() if k != "seq"} if "seq" in raw else raw for raw in recent
        ],
        "message_count": len(raws),
        "archived_count": len(raws) - len(recent),
        "window_bytes": sum(raw["size"] for raw in recent),
    }


def _fields(planned: Planned, recent: list[dict[str, Any]]) -> dict[str, Any]:
    """What an imported conversation's document holding `recent` (the newest messages) in its
    window has of its own; the rest are the document's defaults."""
    raws = planned.raws
    first = min(raw["created_at"] for raw in raws)
    last = max(raw["created_at"] for raw in raws)
    created = planned.source.created_at or first
    return {
        "_id": planned.conversation_id,
        "owner_id": planned.owner_id,
        "title": (planned.source.title or "").strip()[:MAX_TITLE] or None,
        "source": {"kind": planned.source.kind, "id": planned.source.source_id[:256]},
        "current_message_id": planned.current,
        **_window_fields(raws, recent),
        "last_message_at": last,
        "activity_at": last,
        "created_at": to_millis(min(created, first)),
        "updated_at": utcnow(),
    }


def _document(planned: Planned, recent: list[dict[str, Any]]) -> Conversation:
    """The conversation document holding `recent` (the newest messages) in its window."""
    return Conversation.model_validate(_fields(planned, recent))


async def _create(planned: Planned) -> bool:
    """Archives first, then the document: False when a racer's insert of it came first."""
    raws = planned.raws
    keep, kept_bytes = 0, 0
    while keep < min(len(raws), WINDOW_KEEP_MESSAGES):
        size = raws[len(raws) - 1 - keep]["size"]
        if keep and kept_bytes + size > WINDOW_KEEP_BYTES:
            break
        kept_bytes += size
        keep += 1
    numbered = [window.with_seq(raw, seq) for seq, raw in enumerate(raws, start=1)]
    older, recent = numbered[: len(raws) - keep], raws[len(raws) - keep :]
    await window.copy_history(planned.owner_id, planned.conversation_id, older)
    return await engine.insert_unless_exists(_document(planned, recent))


async def _append(
    owner_id: ObjectId,
    conversation_id: ObjectId,
    new: list[dict[str, Any]],
    current: ObjectId | None,
    revision: int,
) -> int:
    """The new messages in window-sized batches, each guarded by the revision read before it;
    a batch that misses (another writer got there) is computed again from a fresh read."""
    scope = window.conversations_of(owner_id)
    added = 0
    pending = new
    for _attempt in range(len(new) + 5):
        if not pending:
            break
        batch, size = [], 0
        for raw in pending:
            if batch and (
                len(batch) >= WINDOW_KEEP_MESSAGES or size + raw["size"] > WINDOW_KEEP_BYTES
            ):
                break
            batch.append(raw)
            size += raw["size"]
        last_batch = len(batch) == len(pending)
        if await window.append_many(
            scope,
            conversation_id,
            batch,
            revision=revision,
            current=current if last_batch else None,
        ):
            added += len(batch)
            await window.roll_window(owner_id, conversation_id)
        revision, existing = await history.message_ids(scope, conversation_id)
        if revision < 0:
            break  # deleted meanwhile
        pending = [raw for raw in pending if raw["id"] not in existing]
    return added

"""genstore's own account export (`GET /api/v1/users/me/export`): a ZIP with
`collections/conversations.jsonl` (each conversation with its window of newest messages) and
`collections/conversation_archives.jsonl` (buckets of older messages), Extended JSON lines.

The buckets are not stored next to their conversation, so they are first spilled into a
temporary SQLite file (standard library, on disk): memory holds one conversation at a time,
whatever the export's size.
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from bson import json_util

from app.imports.formats.values import as_dict, as_id, as_list, as_str
from app.imports.shape import ImportedConversation, ImportedMessage

CONVERSATIONS = "collections/conversations.jsonl"
ARCHIVES = "collections/conversation_archives.jsonl"
MARKERS = ("user.json", CONVERSATIONS)
# Dates come back aware (UTC), as the rest of the importer compares them.
JSON = json_util.JSONOptions(tz_aware=True)


def is_account_export(names: list[str]) -> bool:
    return all(marker in names for marker in MARKERS)


def conversations(
    archive: zipfile.ZipFile, open_member: Callable[[str], IO[bytes]]
) -> Iterator[ImportedConversation]:
    names = archive.namelist()
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as spill:
        index = sqlite3.connect(spill.name)
        index.execute("create table bucket (conversation text, bucket integer, messages text)")
        if ARCHIVES in names:
            with open_member(ARCHIVES) as lines:
                for line in io.TextIOWrapper(lines, encoding="utf-8"):
                    row = as_dict(json_util.loads(line, json_options=JSON)) if line.strip() else {}
                    conversation = as_id(str(row.get("conversation_id") or "")) or ""
                    messages = json_util.dumps(row.get("messages"))
                    index.execute(
                        "insert into bucket values (?, ?, ?)",
                        (conversation, row.get("bucket") or 0, messages),
                    )
        index.execute("create index by_conversation on bucket (conversation, bucket)")
        with open_member(CONVERSATIONS) as lines:
            for line in io.TextIOWrapper(lines, encoding="utf-8"):
                if line.strip():
                    yield read(as_dict(json_util.loads(line, json_options=JSON)), index)
        index.close()


def _archived(index: sqlite3.Connection, conversation_id: str) -> list[dict[str, Any]]:
    rows = index.execute(
        "select messages from bucket where conversation = ? order by bucket", (conversation_id,)
    )
    older: list[dict[str, Any]] = []
    for (messages,) in rows:
        older.extend(as_dict(m) for m in as_list(json_util.loads(messages, json_options=JSON)))
    return sorted(older, key=lambda m: m.get("seq") or 0)


def read(raw: dict[str, Any], index: sqlite3.Connection) -> ImportedConversation:
    source_id = str(raw.get("_id") or "")
    window = [as_dict(m) for m in as_list(raw.get("messages"))]
    seen = set()
    messages = []
    # Archive copies first (older), then the window; a message in both counts once (the
    # window's copy, which may be newer, wins).
    window_ids = {str(m.get("id")) for m in window}
    older = [m for m in _archived(index, source_id) if str(m.get("id")) not in window_ids]
    for data in [*older, *window]:
        message_id = str(data.get("id") or "")
        if not message_id or message_id in seen:
            continue
        seen.add(message_id)
        role = as_str(data.get("role"))
        parent = data.get("parent_id")
        message = ImportedMessage(
            source_id=message_id,
            parent=str(parent) if parent else None,
            role=role if role in ("user", "assistant", "system") else "assistant",  # type: ignore[arg-type]
            content=as_str(data.get("content")) or "",
            created_at=data.get("created_at"),
            model=as_str(data.get("model")),
            reasoning=as_str(data.get("reasoning")),
            status=as_str(data.get("status")),
            metadata=as_dict(data.get("metadata")) or None,
        )
        if role not in ("user", "assistant", "system"):
            message.skip = f"a {role or 'unknown'} message"
        elif not message.content.strip():
            message.skip = "an empty message"
        messages.append(message)
    current = raw.get("current_message_id")
    return ImportedConversation(
        kind="genstore",
        source_id=source_id,
        title=as_str(raw.get("title")),
        created_at=raw.get("created_at"),
        updated_at=raw.get("updated_at"),
        messages=messages,
        current=str(current) if current else None,
    )

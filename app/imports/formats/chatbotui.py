"""Chatbot UI's export (`version`, `history`): linear conversations without message ids."""

from __future__ import annotations

from typing import Any

from app.imports.formats.values import as_dict, as_id, as_list, as_str
from app.imports.shape import ImportedConversation, ImportedMessage


def read(raw: dict[str, Any]) -> ImportedConversation:
    model = as_dict(raw.get("model"))
    messages = []
    previous: str | None = None
    for index, data in enumerate(as_dict(m) for m in as_list(raw.get("messages"))):
        role = as_str(data.get("role"))
        source_id = f"#{index}"  # Chatbot UI messages have no ids: their position is theirs
        message = ImportedMessage(
            source_id=source_id,
            parent=previous,
            role=role if role in ("user", "assistant", "system") else "assistant",  # type: ignore[arg-type]
            content=as_str(data.get("content")) or "",
            model=as_str(model.get("id")) if role == "assistant" else None,
        )
        if role not in ("user", "assistant", "system"):
            message.skip = f"a {role or 'unknown'} message"
        elif not message.content.strip():
            message.skip = "an empty message"
        messages.append(message)
        previous = source_id
    return ImportedConversation(
        kind="chatbotui",
        source_id=as_id(raw.get("id")) or "",
        title=as_str(raw.get("name")),
        created_at=None,
        updated_at=None,
        messages=messages,
    )

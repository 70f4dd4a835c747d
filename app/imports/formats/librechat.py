"""LibreChat's conversation export: flat `messages` with `parentMessageId`, or nested
(`recursive`)."""

from __future__ import annotations

from typing import Any

from app.imports.formats.values import NIL_UUID, as_dict, as_id, as_list, as_str, as_time
from app.imports.shape import ImportedConversation, ImportedMessage


def read(raw: dict[str, Any]) -> ImportedConversation:
    flat: list[tuple[dict[str, Any], str | None]] = []
    if raw.get("recursive"):
        # Nested through `children`: flattened with an explicit stack, in the export's order.
        stack = [(as_dict(m), None) for m in reversed(as_list(raw.get("messages")))]
        while stack:
            data, parent = stack.pop()
            flat.append((data, parent))
            own = as_id(data.get("messageId"))
            stack.extend((as_dict(c), own) for c in reversed(as_list(data.get("children"))))
    else:
        flat = [(as_dict(m), None) for m in as_list(raw.get("messages"))]
    messages = []
    for index, (data, nested_parent) in enumerate(flat):
        parent = as_id(data.get("parentMessageId")) or nested_parent
        texts, reasoning = _librechat_content(data)
        message = ImportedMessage(
            source_id=as_id(data.get("messageId")) or f"#{index}",
            parent=None if parent in NIL_UUID else parent,
            role="user" if data.get("isCreatedByUser") is True else "assistant",
            content=texts,
            created_at=as_time(data.get("createdAt")),
            model=as_str(data.get("model")),
            reasoning=reasoning,
            status="unfinished" if data.get("unfinished") is True else None,
        )
        if data.get("error") is True:
            message.metadata = {"error": True}
        if not message.content.strip():
            message.skip = "an empty message"
        messages.append(message)
    return ImportedConversation(
        kind="librechat",
        source_id=as_id(raw.get("conversationId")) or "",
        title=as_str(raw.get("title")),
        created_at=None,
        updated_at=as_time(raw.get("exportAt")),
        messages=messages,
    )


def _librechat_content(data: dict[str, Any]) -> tuple[str, str | None]:
    """`text`, or the newer `content` parts (`text`, `think`)."""
    texts, reasoning = [], []
    for part in (as_dict(p) for p in as_list(data.get("content"))):
        kind = as_str(part.get("type"))
        value = part.get(kind) if kind else None
        if isinstance(value, dict):
            value = value.get("value")
        if kind == "text" and as_str(value):
            texts.append(value)  # type: ignore[arg-type]
        elif kind == "think" and as_str(value):
            reasoning.append(value)  # type: ignore[arg-type]
    return ("\n\n".join(texts) or as_str(data.get("text")) or ""), ("\n\n".join(reasoning) or None)

"""Open WebUI's chat export: `chat.history.messages` with `parentId`/`childrenIds`, and
`currentId`."""

from __future__ import annotations

from typing import Any

from app.imports.formats.values import as_dict, as_id, as_list, as_str, as_time, walk_tree
from app.imports.shape import ImportedConversation, ImportedMessage


def read(raw: dict[str, Any]) -> ImportedConversation:
    chat = as_dict(raw.get("chat"))
    history = as_dict(chat.get("history"))
    nodes = {
        key: as_dict(node)
        for key, node in as_dict(history.get("messages")).items()
        if isinstance(key, str)
    }
    roots = [key for key, node in nodes.items() if as_id(node.get("parentId")) not in nodes]
    order = walk_tree(
        roots,
        lambda key: [c for c in as_list(nodes[key].get("childrenIds")) if isinstance(c, str)],
        set(nodes),
    )
    messages = []
    for key in order:
        node = nodes[key]
        role = as_str(node.get("role"))
        message = ImportedMessage(
            source_id=key,
            parent=as_id(node.get("parentId")),
            role=role if role in ("user", "assistant", "system") else "assistant",  # type: ignore[arg-type]
            content=as_str(node.get("content")) or "",
            created_at=as_time(node.get("timestamp")),
            model=as_str(node.get("model")),
        )
        if role not in ("user", "assistant", "system"):
            message.skip = f"a {role or 'unknown'} message"
        elif not message.content.strip():
            message.skip = "an empty message"
        messages.append(message)
    return ImportedConversation(
        kind="openwebui",
        source_id=as_id(raw.get("id")) or as_id(chat.get("id")) or "",
        title=as_str(raw.get("title")) or as_str(chat.get("title")),
        created_at=as_time(raw.get("created_at")) or as_time(chat.get("timestamp")),
        updated_at=as_time(raw.get("updated_at")),
        messages=messages,
        current=as_id(history.get("currentId")),
    )

"""Claude.ai's export `conversations.json`: `chat_messages` with content blocks, branches
through `parent_message_uuid`."""

from __future__ import annotations

from typing import Any

from app.imports.formats.values import NIL_UUID, as_dict, as_id, as_list, as_str, as_time
from app.imports.shape import ImportedConversation, ImportedMessage


def read(raw: dict[str, Any]) -> ImportedConversation:
    conversation = ImportedConversation(
        kind="claude",
        source_id=as_id(raw.get("uuid")) or "",
        title=as_str(raw.get("name")),
        created_at=as_time(raw.get("created_at")),
        updated_at=as_time(raw.get("updated_at")),
        messages=[],
    )
    if not isinstance(raw.get("chat_messages"), list):
        conversation.problems.append("the conversation has no `chat_messages`")
        return conversation
    previous: str | None = None
    for index, item in enumerate(raw["chat_messages"]):
        data = as_dict(item)
        source_id = as_id(data.get("uuid")) or f"#{index}"
        if "parent_message_uuid" in data:
            parent = as_id(data.get("parent_message_uuid"))
            parent = None if parent in NIL_UUID else parent
        else:
            parent = previous  # older exports: one linear chain
        conversation.messages.append(_claude_message(source_id, parent, data))
        previous = source_id
    return conversation


def _claude_message(source_id: str, parent: str | None, data: dict[str, Any]) -> ImportedMessage:
    sender = as_str(data.get("sender"))
    message = ImportedMessage(
        source_id=source_id,
        parent=parent,
        role="user" if sender == "human" else "assistant",
        content="",
        created_at=as_time(data.get("created_at")),
    )
    texts: list[str] = []
    reasoning: list[str] = []
    tools: list[dict[str, Any]] = []
    for block in (as_dict(b) for b in as_list(data.get("content"))):
        kind = as_str(block.get("type"))
        if kind == "text" and as_str(block.get("text")):
            texts.append(block["text"])
        elif kind == "thinking" and as_str(block.get("thinking")):
            reasoning.append(block["thinking"])
        elif kind in ("tool_use", "tool_result"):
            tools.append(
                {k: v for k, v in block.items() if k in ("type", "name", "input", "content")}
            )
    message.content = "\n\n".join(texts) or (as_str(data.get("text")) or "")
    message.reasoning = "\n\n".join(reasoning) or None
    metadata: dict[str, Any] = {}
    if tools:
        metadata["tool_calls"] = tools
    kept_keys = ("file_name", "file_type", "file_size", "extracted_content")
    attachments = [
        {k: v for k, v in as_dict(a).items() if k in kept_keys and isinstance(v, (str, int))}
        for a in as_list(data.get("attachments"))
    ]
    if attachments:
        metadata["attachments"] = attachments
    files = [as_str(as_dict(f).get("file_name")) for f in as_list(data.get("files"))]
    if any(files):
        metadata["files"] = [name for name in files if name]
    message.metadata = metadata or None
    if sender not in ("human", "assistant"):
        message.skip = f"a message from {sender or 'no sender'}"
    elif not message.content.strip():
        message.skip = "an empty message"
    return message

"""ChatGPT's data export: `conversations.json` (alone, in the export ZIP, or split into
`conversations-NNN.json` parts), a `mapping` tree per conversation."""

from __future__ import annotations

from typing import Any

from app.imports.formats.values import as_dict, as_id, as_int, as_list, as_str, as_time, walk_tree
from app.imports.shape import ImportedConversation, ImportedFile, ImportedMessage

_CHATGPT_SKIPPED_TYPES = {
    "tether_browsing_display": "a browsing result",
    "tether_quote": "a browsing quote",
    "system_error": "a system error",
    "user_editable_context": "custom instructions",
    "execution_output": "a tool's output",
}


def read(raw: dict[str, Any]) -> ImportedConversation:
    mapping = as_dict(raw.get("mapping"))
    nodes = {key: as_dict(node) for key, node in mapping.items() if isinstance(key, str)}
    roots = [key for key, node in nodes.items() if as_id(node.get("parent")) not in nodes]
    order = walk_tree(
        roots,
        lambda key: [c for c in as_list(nodes[key].get("children")) if isinstance(c, str)],
        set(nodes),
    )
    messages: list[ImportedMessage] = []
    for key in order:
        node = nodes[key]
        parent = as_id(node.get("parent"))
        messages.append(_chatgpt_message(key, parent, node))
    # Reasoning nodes (thoughts, recaps) are skipped as turns; their text goes to the next
    # answer below them on the same path.
    _carry_reasoning(messages)
    source_id = as_id(raw.get("id")) or as_id(raw.get("conversation_id")) or ""
    return ImportedConversation(
        kind="chatgpt",
        source_id=source_id,
        title=as_str(raw.get("title")),
        created_at=as_time(raw.get("create_time")),
        updated_at=as_time(raw.get("update_time")),
        messages=messages,
        current=as_id(raw.get("current_node")),
    )


def _chatgpt_message(key: str, parent: str | None, node: dict[str, Any]) -> ImportedMessage:
    message = as_dict(node.get("message"))
    author = as_dict(message.get("author"))
    content = as_dict(message.get("content"))
    metadata = as_dict(message.get("metadata"))
    content_type = as_str(content.get("content_type")) or "text"
    role = as_str(author.get("role"))
    imported = ImportedMessage(
        source_id=key,
        parent=parent,
        role="assistant",
        content="",
        created_at=as_time(message.get("create_time")),
        model=as_str(metadata.get("model_slug")),
    )
    if not message:
        imported.skip = "an empty node"
        return imported
    if role not in ("user", "assistant"):
        imported.skip = f"a {role or 'unknown'} node"
        return imported
    imported.role = role  # type: ignore[assignment]
    if metadata.get("is_visually_hidden_from_conversation"):
        imported.skip = "a hidden node"
        return imported
    recipient = as_str(message.get("recipient"))
    if recipient not in (None, "all"):
        imported.skip = f"a call to {recipient}"
        return imported
    if content_type in _CHATGPT_SKIPPED_TYPES:
        imported.skip = _CHATGPT_SKIPPED_TYPES[content_type]
        return imported
    parts = as_list(content.get("parts"))
    if content_type == "thoughts":
        thoughts = [as_dict(t) for t in as_list(content.get("thoughts"))]
        imported.reasoning = "\n\n".join(
            text for t in thoughts if (text := as_str(t.get("content")) or as_str(t.get("summary")))
        )
        imported.skip = "reasoning"
        return imported
    if content_type == "reasoning_recap":
        imported.reasoning = as_str(content.get("content"))
        imported.skip = "reasoning"
        return imported
    if content_type == "code":
        imported.content = as_str(content.get("text")) or ""
        imported.metadata = {"type": "code", "language": as_str(content.get("language"))}
    else:
        texts = []
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and as_str(part.get("asset_pointer")):
                # `file-service://file-…` or `sediment://file_…`: the id names the ZIP member.
                file_id = part["asset_pointer"].rsplit("/", 1)[-1]
                imported.files.append(
                    ImportedFile(
                        name=file_id, size=as_int(part.get("size_bytes")), source_id=file_id
                    )
                )
        imported.content = "\n".join(texts)
        if content_type not in ("text", "multimodal_text") and not texts:
            imported.content = as_str(content.get("text")) or ""
    known = {f.source_id for f in imported.files}
    for attachment in map(as_dict, as_list(metadata.get("attachments"))):
        # Files the user uploaded with the message (documents, images): `{id, name, mime_type}`.
        file_id = as_id(attachment.get("id"))
        if file_id and file_id not in known:
            known.add(file_id)
            imported.files.append(
                ImportedFile(
                    name=as_str(attachment.get("name")) or file_id,
                    content_type=as_str(attachment.get("mime_type")),
                    size=as_int(attachment.get("size")),
                    source_id=file_id,
                )
            )
    citations = as_list(metadata.get("citations"))
    if citations:
        imported.metadata = {**(imported.metadata or {}), "citations": citations}
    finish = as_str(as_dict(metadata.get("finish_details")).get("type"))
    status = as_str(message.get("status"))
    if finish == "interrupted":
        imported.status = "interrupted"
    elif status and status != "finished_successfully":
        imported.status = status
    if not imported.content.strip() and not imported.files:
        imported.skip = "an empty message"
    return imported


def _carry_reasoning(messages: list[ImportedMessage]) -> None:
    """Pre-order, so a chain of reasoning nodes hands its text down to the first answer."""
    children: dict[str, list[ImportedMessage]] = {}
    for message in messages:
        if message.parent is not None:
            children.setdefault(message.parent, []).append(message)
    for message in messages:
        if message.skip is None or not message.reasoning:
            continue
        for child in children.get(message.source_id, []):
            child.reasoning = "\n\n".join(r for r in (message.reasoning, child.reasoning) if r)

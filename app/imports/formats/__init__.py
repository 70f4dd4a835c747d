"""Each export format, read into `ImportedConversation`s (`shape.py`), and detection from the
content: what the first conversation of a file holds decides its format, never the file name.

README "Importing conversations" has the mapping of every format. Every reader is defensive:
an export is untrusted input, so a value of the wrong type is treated as absent (and reported)
rather than trusted, and nothing here recurses on the export's nesting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.imports.formats import chatbotui, chatgpt, claude, librechat, openwebui
from app.imports.shape import ImportedConversation, SourceKind


class UnknownFormat(ValueError):
    """The content is none of the formats we read."""


LOOKED_FOR = (
    "a ChatGPT export (conversations with `mapping`), a Claude export (`chat_messages`), an Open "
    "WebUI export (`chat.history`), a LibreChat export (`conversationId` and `messages`), a "
    "Chatbot UI export (`version` and `history`) or a genstore account export"
)


def detect(first: Any, *, top_level_array: bool) -> SourceKind:
    """The format of a JSON export from its first conversation (or, for the formats whose file
    is one object, from that object)."""
    if top_level_array and isinstance(first, dict):
        if "mapping" in first:
            return "chatgpt"
        if "chat_messages" in first or ("uuid" in first and "name" in first):
            return "claude"
        if isinstance(first.get("chat"), dict):
            return "openwebui"
        if isinstance(first.get("messages"), list) and "name" in first:
            return "chatbotui"
    if not top_level_array and isinstance(first, dict):
        if "conversationId" in first and isinstance(first.get("messages"), list):
            return "librechat"
        if "history" in first and "version" in first:
            return "chatbotui"
    raise UnknownFormat(f"Not a chat export this server reads. Looked for {LOOKED_FOR}.")


READERS: dict[str, Callable[[dict[str, Any]], ImportedConversation]] = {
    "chatgpt": chatgpt.read,
    "claude": claude.read,
    "openwebui": openwebui.read,
    "librechat": librechat.read,
    "chatbotui": chatbotui.read,
}

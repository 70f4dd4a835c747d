"""The one shape every export is parsed into before anything is written, and the rules that make
any export's tree safe to write: dangling parents and parent cycles broken, nodes that are not
chat turns (system prompts, hidden and tool nodes) dropped with their children attached to the
nearest imported ancestor, timestamps made monotonic along every path, and an order in which
every parent comes before its children and siblings keep the export's order.

Everything here is iterative: a 10,000-deep parent chain is walked, never recursed into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Role = Literal["user", "assistant", "system"]
SourceKind = Literal["chatgpt", "claude", "openwebui", "librechat", "chatbotui", "genstore"]


@dataclass
class ImportedFile:
    """A file a message carried: its bytes when the export has them (a ZIP member)."""

    name: str
    content_type: str | None = None
    member: str | None = None  # the ZIP member holding the bytes, once the reader found it
    size: int | None = None
    # The export's own id of the file (`file-…` in ChatGPT's): what finds its ZIP member, and
    # what the stored handle's id is derived from, so a re-import finds the handle again.
    source_id: str | None = None


@dataclass
class ImportedMessage:
    source_id: str
    parent: str | None  # the source id of its parent, as the export says
    role: Role
    content: str
    created_at: datetime | None = None
    model: str | None = None
    reasoning: str | None = None  # thinking / reasoning parts: never part of the answer text
    status: str | None = None  # a message the export marks unfinished: "interrupted", ...
    metadata: dict[str, Any] | None = None  # citations, attachments' text, tool calls
    files: list[ImportedFile] = field(default_factory=list)
    # Why this node is not imported as a chat turn (its children attach to its parent).
    skip: str | None = None


@dataclass
class ImportedConversation:
    kind: SourceKind
    source_id: str
    title: str | None
    created_at: datetime | None
    updated_at: datetime | None
    messages: list[ImportedMessage]  # in the export's order: siblings keep it
    current: str | None = None  # the source id of the export's current leaf
    problems: list[str] = field(default_factory=list)  # what was repaired or skipped


@dataclass
class SettledMessage:
    message: ImportedMessage
    parent: str | None  # the source id of its imported parent
    created_at: datetime


@dataclass
class Settled:
    """A conversation ready to write: parents before children, times monotonic."""

    messages: list[SettledMessage]
    current: str | None
    problems: list[str]


def settle(conversation: ImportedConversation, *, now: datetime) -> Settled:
    problems = list(conversation.problems)
    by_id: dict[str, ImportedMessage] = {}
    for message in conversation.messages:
        if message.source_id in by_id:
            problems.append(f"message {message.source_id!r} appears twice: the first is kept")
            continue
        by_id[message.source_id] = message

    parent_of: dict[str, str | None] = {}
    for source_id, message in by_id.items():
        parent = message.parent
        if parent is not None and (parent not in by_id or parent == source_id):
            problems.append(f"message {source_id!r} names a parent not in the export: a root now")
            parent = None
        parent_of[source_id] = parent
    _break_cycles(parent_of, problems)

    kept = {source_id for source_id, message in by_id.items() if message.skip is None}
    skipped = len(by_id) - len(kept)
    if skipped:
        problems.append(f"{skipped} node(s) that are not chat turns were skipped")
    imported_parent = {source_id: _kept_ancestor(parent_of, kept, source_id) for source_id in kept}

    children: dict[str | None, list[str]] = {}
    for source_id in by_id:  # the export's order
        if source_id in kept:
            children.setdefault(imported_parent[source_id], []).append(source_id)

    settled: list[SettledMessage] = []
    repaired = 0
    # A root keeps its own time (or the conversation's); a child is never older than its parent.
    fallback = conversation.created_at or now
    stack: list[tuple[str, datetime | None]] = [
        (root, None) for root in reversed(children.get(None, []))
    ]
    while stack:
        source_id, floor = stack.pop()
        message = by_id[source_id]
        created = message.created_at or floor or fallback
        if floor is not None and created < floor:
            created = floor
            repaired += 1
        settled.append(SettledMessage(message, imported_parent[source_id], created))
        for child in reversed(children.get(source_id, [])):
            stack.append((child, created))
    if repaired:
        problems.append(f"{repaired} timestamp(s) earlier than their parent's were moved up")

    current = conversation.current
    if current is not None and current in by_id and current not in kept:
        current = _kept_ancestor(parent_of, kept, current)
    if current is None or current not in kept:
        current = _latest_leaf(settled, children)
    return Settled(settled, current, problems)


def _break_cycles(parent_of: dict[str, str | None], problems: list[str]) -> None:
    """Walk each chain once (colouring nodes done); a chain that comes back to a node of the
    walk in progress is a cycle, cut at the node that closed it."""
    done: set[str] = set()
    for start in parent_of:
        walk: list[str] = []
        on_walk: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in on_walk:
                problems.append(f"a parent cycle through {node!r} was cut: a root now")
                parent_of[walk[-1]] = None
                break
            walk.append(node)
            on_walk.add(node)
            node = parent_of[node]
        done.update(walk)


def _kept_ancestor(parent_of: dict[str, str | None], kept: set[str], source_id: str) -> str | None:
    parent = parent_of[source_id]
    while parent is not None and parent not in kept:
        parent = parent_of[parent]
    return parent


def _latest_leaf(
    settled: list[SettledMessage], children: dict[str | None, list[str]]
) -> str | None:
    """The newest leaf, the last in the export's order among equals: where a chat left off."""
    best: SettledMessage | None = None
    for item in settled:
        if item.message.source_id in children:
            continue
        if best is None or item.created_at >= best.created_at:
            best = item
    return best.message.source_id if best else None

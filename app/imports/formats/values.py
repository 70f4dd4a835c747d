"""Readers of untrusted values: a value of the wrong type is absent, never trusted; and the one
tree walk every format with child lists shares (iterative, each node once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# A root's parent in LibreChat and Claude exports.
NIL_UUID = {"00000000-0000-0000-0000-000000000000", "00000000-0000-4000-8000-000000000000"}


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_time(value: Any) -> datetime | None:
    """Epoch seconds (ChatGPT, Open WebUI; milliseconds when too large) or ISO 8601."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
            if seconds > 10**11:  # milliseconds
                seconds /= 1000
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def walk_tree(
    roots: list[str], children_of: Callable[[str], list[str]], known: set[str]
) -> list[str]:
    """Ids in pre-order, children in the export's order; each id once, whatever the links."""
    order: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if node in seen or node not in known:
            continue
        seen.add(node)
        order.append(node)
        stack.extend(reversed(children_of(node)))
    # Nodes no root reaches (a cycle, a broken child list) still come, in the export's order.
    order.extend(node for node in known if node not in seen)
    return order


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

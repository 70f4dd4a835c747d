"""The only module that talks to GridFS."""

from __future__ import annotations


async def ensure_indexes() -> None:
    return None

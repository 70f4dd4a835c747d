"""An import job's progress as it runs: report items and counts buffered and written together,
and the heartbeat that shows the job's process is alive."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.auth.scoping import Scope
from app.imports.reader import Export
from documents.base import utcnow
from documents.import_job import MAX_REPORT_ITEMS, ImportItem, ImportJob


class PendingReport:
    """Report items and counts not yet in the job: written together at most every `beat`
    seconds (or every `FLUSH_ITEMS`), so a 10,000-conversation export does not rewrite its
    growing job document 10,000 times."""

    FLUSH_ITEMS = 200

    def __init__(self) -> None:
        self.items: list[ImportItem] = []
        self.counts: dict[str, int] = {}
        self.reported = 0
        self.truncated = False
        self.flushed_at = time.monotonic()

    def add(self, item: ImportItem, branches: int) -> None:
        for name, value in counts_of(item, branches).items():
            self.counts[name] = self.counts.get(name, 0) + value
        if self.reported + len(self.items) < MAX_REPORT_ITEMS:
            self.items.append(item)
        else:
            self.truncated = True

    def due(self, beat: float) -> bool:
        return len(self.items) >= self.FLUSH_ITEMS or time.monotonic() - self.flushed_at >= beat

    async def flush(self, scope: Scope[ImportJob], job_id: Any, export: Export) -> None:
        self.flushed_at = time.monotonic()
        update: dict[str, Any] = {
            "$set": {"bytes_read": export.progress.read, "heartbeat_at": utcnow()},
        }
        if self.counts:
            update["$inc"] = self.counts
        if self.items:
            items = [item.model_dump(exclude_none=True) for item in self.items]
            update["$push"] = {"report": {"$each": items}}
        if self.truncated:
            update["$set"]["report_truncated"] = True
        await scope.update_one(job_id, update)
        self.reported += len(self.items)
        self.items, self.counts = [], {}


async def heartbeat(scope: Scope[ImportJob], job_id: Any, export: Export, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await scope.update_one(
            job_id, {"$set": {"heartbeat_at": utcnow(), "bytes_read": export.progress.read}}
        )


def counts_of(item: ImportItem, branches: int) -> dict[str, int]:
    counts = {f"counts.conversations_{item.outcome}": 1}
    if item.messages_added:
        counts["counts.messages"] = item.messages_added
    if item.files:
        counts["counts.files"] = item.files
    if branches:
        counts["counts.branches"] = branches
    return counts

"""Import jobs: one per uploaded export, with its progress and a report per conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument

ImportStatus = Literal["queued", "running", "done", "failed"]
ImportOutcome = Literal["created", "updated", "unchanged", "failed"]
# A report longer than this keeps its counts exact and says it was cut.
MAX_REPORT_ITEMS = 10_000


class ImportCounts(BaseModel):
    conversations_created: int = 0
    conversations_updated: int = 0
    conversations_unchanged: int = 0
    conversations_failed: int = 0
    messages: int = 0  # messages written by this import
    branches: int = 0  # messages written that start a branch (a parent's second child or later)
    files: int = 0


class ImportItem(BaseModel):
    """What the import did with one conversation of the export."""

    source_id: str
    conversation_id: PydanticObjectId | None = None
    title: str | None = None
    outcome: ImportOutcome
    messages_added: int = 0
    files: int = 0  # files stored (or, in a dry run, that would be)
    problems: list[str] = Field(default_factory=list)  # what was skipped or repaired
    error: str | None = None


class ImportJob(OwnedDocument):
    noun = "import"
    status: ImportStatus = "queued"
    format: str
    filename: str | None = None
    dry_run: bool = False
    bytes_total: int = 0
    bytes_read: int = 0
    counts: ImportCounts = Field(default_factory=ImportCounts)
    report: list[ImportItem] = Field(default_factory=list)
    report_truncated: bool = False
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Renewed while the job runs; a running job whose heartbeat stopped was interrupted.
    heartbeat_at: datetime | None = None
    extra: dict[str, Any] | None = None
    # `import.finished`, owed to the outbox by the job's final update (`app/webhooks/events.py`).
    pending_events: list[str] = Field(default_factory=list)

    class Settings:
        name = "import_jobs"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            IndexModel([("status", ASCENDING), ("heartbeat_at", ASCENDING)], name="status_beat"),
            IndexModel([("pending_events", ASCENDING)], name="pending_events"),
        ]

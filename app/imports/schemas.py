from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict

from app.schemas import IdStr, ResourceRead
from documents.import_job import ImportJob, ImportOutcome, ImportStatus


class ImportCountsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    conversations_created: int
    conversations_updated: int
    conversations_unchanged: int
    conversations_failed: int
    messages: int
    branches: int
    files: int


class ImportItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source_id: str
    conversation_id: IdStr | None
    title: str | None
    outcome: ImportOutcome
    messages_added: int
    files: int
    problems: list[str]
    error: str | None


class ImportProgress(BaseModel):
    bytes_read: int
    bytes_total: int


class ImportSummary(ResourceRead):
    """A job without its report (lists)."""

    status: ImportStatus
    format: str
    filename: str | None
    dry_run: bool
    progress: ImportProgress
    counts: ImportCountsRead
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: ImportJob) -> Self:
        data = job.model_dump(exclude={"report"} if cls is ImportSummary else None)
        progress = ImportProgress(bytes_read=job.bytes_read, bytes_total=job.bytes_total)
        return cls.model_validate({**data, "id": job.id, "progress": progress})


class ImportRead(ImportSummary):
    """With the report: one item per conversation of the export."""

    report: list[ImportItemRead]
    report_truncated: bool

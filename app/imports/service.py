"""Import jobs: an uploaded export kept on disk while a task of this process reads it one
conversation at a time (parsing in a worker thread) and writes each (`writer.py`), recording
progress and a report item per conversation in the job as it goes.

A job's heartbeat is renewed while it runs. A process that stops mid-job leaves a heartbeat that
goes stale; whoever looks next (the job's owner reading it, any process starting) marks the job
failed, saying so: no job stays `running` after its process is gone. Importing the file again
finishes the work, since nothing is written twice.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope, owned
from app.errors import Unprocessable
from app.imports.reader import BadExport, Export, open_export
from app.imports.shape import ImportedConversation, settle
from app.imports.writer import ConversationRefused, write_conversation
from app.pagination import CursorParams, Page
from app.settings import Settings
from app.uploads import MultipartUpload
from documents.base import utcnow
from documents.import_job import MAX_REPORT_ITEMS, ImportItem, ImportJob
from documents.user import User

logger = logging.getLogger(__name__)

INTERRUPTED = (
    "Interrupted: the server stopped while the import ran. Import the file again; what was "
    "written is not written twice."
)
FORMATS = ("chatgpt", "claude", "openwebui", "librechat", "chatbotui")

# Tasks of this process's jobs, kept referenced until they end.
_running: set[asyncio.Task[None]] = set()


def imports_of(user: User | ObjectId) -> Scope[ImportJob]:
    return owned(ImportJob, user)


def _upload_dir(settings: Settings) -> Path:
    directory = Path(settings.import_dir or tempfile.gettempdir()) / "genstore-imports"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def start_import(user: User, upload: MultipartUpload, settings: Settings) -> ImportJob:
    """Keep the upload, detect its format (422 when it is none we read), start the job."""
    job_id = ObjectId()
    path = _upload_dir(settings) / f"{job_id}.upload"
    try:
        with path.open("wb") as out:
            async for chunk in upload.file_chunks():
                out.write(chunk)
        kind = upload.fields.get("format") or None
        if kind is not None and kind not in FORMATS:
            raise Unprocessable(
                f"Unknown format {kind!r}: one of {', '.join(FORMATS)}.", field="body.format"
            )
        dry_run = upload.fields.get("dry_run", "").lower() in ("1", "true", "yes")
        try:
            export = await asyncio.to_thread(open_export, path, kind)  # type: ignore[arg-type]
        except BadExport as exc:
            raise Unprocessable(str(exc), field="body.file") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    export.temporary = True
    job = await new_job(user, export, filename=upload.filename, dry_run=dry_run)
    task = asyncio.create_task(run_import(job, export, settings))
    _running.add(task)
    task.add_done_callback(_running.discard)
    return job


async def new_job(user: User, export: Export, *, filename: str | None, dry_run: bool) -> ImportJob:
    job = imports_of(user).new(
        format=export.kind,
        filename=(filename or "")[:255] or None,
        dry_run=dry_run,
        bytes_total=export.progress.total,
        heartbeat_at=utcnow(),
    )
    await job.insert()
    return job


async def run_import(
    job: ImportJob,
    export: Export,
    settings: Settings,
    *,
    on_progress: Callable[[int, int], Any] | None = None,
) -> ImportJob:
    """Read every conversation of `export` and write it; the job records what happened. An
    uploaded file is deleted at the end, whatever the end. `on_progress(read, total)` after
    each conversation (the command line's progress bar)."""
    scope = imports_of(job.owner_id)
    now = utcnow()
    await scope.update_one(
        job.id, {"$set": {"status": "running", "started_at": now, "heartbeat_at": now}}
    )
    beat = settings.import_stale_seconds / 5
    beating = asyncio.create_task(_heartbeat(scope, job.id, export, beat))
    conversations = export.conversations()
    pending = _Pending()
    try:
        while True:
            conversation = await asyncio.to_thread(next, conversations, None)
            if conversation is None:
                break
            item, branches = await _import_one(job, conversation)
            pending.add(item, branches)
            if pending.due(beat):
                await pending.flush(scope, job.id, export)
                if on_progress is not None:
                    on_progress(export.progress.read, export.progress.total)
        await pending.flush(scope, job.id, export)
        final: dict[str, Any] = {"status": "done", "bytes_read": export.progress.total}
    except BadExport as exc:
        final = {"status": "failed", "error": str(exc)}
    except Exception:
        logger.exception("import %s failed", job.id)
        final = {"status": "failed", "error": "The import failed on a server error."}
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        if export.temporary:
            export.path.unlink(missing_ok=True)
    if final["status"] == "failed":
        await pending.flush(scope, job.id, export)  # what was written before the failure
    await scope.update_one(job.id, {"$set": {**final, "finished_at": utcnow()}})
    return await scope.get_or_404(job.id)


class _Pending:
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
        for name, value in _counts_of(item, branches).items():
            self.counts[name] = self.counts.get(name, 0) + value
        if self.reported + len(self.items) < MAX_REPORT_ITEMS:
            self.items.append(item)
        else:
            self.truncated = True

    def due(self, beat: float) -> bool:
        return len(self.items) >= self.FLUSH_ITEMS or time.monotonic() - self.flushed_at >= beat

    async def flush(self, scope: Scope[ImportJob], job_id: Any, export: Export) -> None:
        self.flushed_at = time.monotonic()
        if not self.items and not self.counts:
            return
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


async def _heartbeat(scope: Scope[ImportJob], job_id: Any, export: Export, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await scope.update_one(
            job_id, {"$set": {"heartbeat_at": utcnow(), "bytes_read": export.progress.read}}
        )


async def _import_one(job: ImportJob, conversation: ImportedConversation) -> tuple[ImportItem, int]:
    """The report item, and how many branches the messages written start."""
    settled = settle(conversation, now=utcnow())
    item = ImportItem(
        source_id=conversation.source_id[:256] or "(none)",
        title=(conversation.title or "")[:200] or None,
        outcome="failed",
        problems=settled.problems[:50],
    )
    if not conversation.source_id:
        item.error = "the conversation has no id in the export"
        return item, 0
    try:
        written = await write_conversation(job.owner_id, conversation, settled, dry_run=job.dry_run)
    except ConversationRefused as exc:
        item.error = str(exc)
        return item, 0
    item.outcome = written.outcome  # type: ignore[assignment]
    item.conversation_id = written.conversation_id  # type: ignore[assignment]
    item.messages_added = written.messages_added
    item.problems = written.problems[:50]
    return item, written.branches


def _counts_of(item: ImportItem, branches: int) -> dict[str, int]:
    counts = {f"counts.conversations_{item.outcome}": 1}
    if item.messages_added:
        counts["counts.messages"] = item.messages_added
    if branches:
        counts["counts.branches"] = branches
    return counts


async def get_import(user: User, import_id: str, settings: Settings) -> ImportJob:
    await fail_interrupted(settings, imports_of(user))
    return await imports_of(user).get_or_404(import_id)


async def list_imports(user: User, params: CursorParams, settings: Settings) -> Page[ImportJob]:
    await fail_interrupted(settings, imports_of(user))
    return await imports_of(user).list_page(params)


async def fail_interrupted(settings: Settings, scope: Scope[ImportJob] | None = None) -> int:
    """Mark failed the jobs whose heartbeat stopped (their process is gone): the caller's, or
    every owner's at start-up."""
    stale = {
        "status": {"$in": ["queued", "running"]},
        "heartbeat_at": {"$lt": utcnow() - timedelta(seconds=settings.import_stale_seconds)},
    }
    update = {"$set": {"status": "failed", "error": INTERRUPTED, "finished_at": utcnow()}}
    if scope is not None:
        return await scope.update_many(stale, update)
    result = await ImportJob.find(stale).update_many(update)
    return result.modified_count if result is not None else 0

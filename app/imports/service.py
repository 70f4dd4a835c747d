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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope, owned
from app.conversations.history import message_ids_of
from app.conversations.window import conversations_of
from app.errors import Unprocessable
from app.imports.attachments import FileStore
from app.imports.progress import PendingReport, heartbeat
from app.imports.reader import BadExport, Export, open_export
from app.imports.shape import ImportedConversation, settle
from app.imports.writer import (
    ConversationRefused,
    Planned,
    Written,
    plan,
    write_conversation,
    write_new,
)
from app.pagination import CursorParams, Page
from app.settings import Settings
from app.uploads import MultipartUpload
from app.webhooks import events
from documents.base import utcnow
from documents.import_job import ImportItem, ImportJob
from documents.user import User

logger = logging.getLogger(__name__)

INTERRUPTED = (
    "Interrupted: the server stopped while the import ran. Import the file again; what was "
    "written is not written twice."
)
# Conversations that fit their window are inserted this many (or this many bytes) at a time:
# one insert stays short, so the job's heartbeat is never stuck behind it.
BATCH_CONVERSATIONS = 100
BATCH_BYTES = 4 * 1024 * 1024
READ_AHEAD = 50
FORMATS = ("chatgpt", "claude", "openwebui", "librechat", "chatbotui", "genstore")

# Tasks of this process's jobs, kept referenced until they end.
_running: set[asyncio.Task[None]] = set()
FINISHED_EVENT = {"pending_events": "import.finished"}


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
    uploaded file is deleted at the end, whatever the end. `on_progress(read, total)` whenever
    progress is written (the command line's progress bar)."""
    scope = imports_of(job.owner_id)
    export.max_file_bytes = settings.max_upload_bytes
    files = FileStore(export.member_chunks, settings.max_upload_bytes)
    now = utcnow()
    await scope.update_one(
        job.id, {"$set": {"status": "running", "started_at": now, "heartbeat_at": now}}
    )
    beat = settings.import_stale_seconds / 5
    beating = asyncio.create_task(heartbeat(scope, job.id, export, beat))
    conversations = export.conversations()
    pending = PendingReport()
    waiting: list[Waiting] = []

    async def tick() -> None:
        """Progress and the heartbeat, written when due: between conversations, so a job
        whose writes keep the connection busy still shows it is alive."""
        if pending.due(beat):
            await pending.flush(scope, job.id, export)
            if on_progress is not None:
                on_progress(export.progress.read, export.progress.total)

    # The worker thread parses and plans the next conversations while these are written.
    ahead = asyncio.ensure_future(asyncio.to_thread(_read_some, conversations, job))
    try:
        while True:
            read = await ahead
            if not read:
                break
            ahead = asyncio.ensure_future(asyncio.to_thread(_read_some, conversations, job))
            for entry in read:
                await _take(job, entry, waiting, pending, tick, files)
        await _write_waiting(job, waiting, pending, tick, files)
        await pending.flush(scope, job.id, export)
        final: dict[str, Any] = {"status": "done", "bytes_read": export.progress.total}
    except BadExport as exc:
        final = {"status": "failed", "error": str(exc)}
    except Exception:
        logger.exception("import %s failed", job.id)
        final = {"status": "failed", "error": "The import failed on a server error."}
    finally:
        beating.cancel()
        # A read ahead still in its thread finishes its few conversations before the file goes.
        await asyncio.gather(beating, ahead, return_exceptions=True)
        if export.temporary:
            export.path.unlink(missing_ok=True)
    if final["status"] == "failed":
        await pending.flush(scope, job.id, export)  # what was written before the failure
    await scope.update_one(
        job.id,
        {"$set": {**final, "finished_at": utcnow()}, "$addToSet": FINISHED_EVENT},
    )
    finished = await scope.get_or_404(job.id)
    await events.relay(finished)
    return finished


@dataclass
class Waiting:
    """A conversation read from the export: planned and waiting for its batch, or already
    reported (refused, or written on its own)."""

    item: ImportItem
    planned: Planned | None = None
    branches: int = 0
    done: bool = False


def _read_some(conversations: Iterator[ImportedConversation], job: ImportJob) -> list[Waiting]:
    """The next conversations, parsed and planned (CPU work, no database), up to READ_AHEAD of
    them or about 1 MB of messages: one trip to the worker thread for many small ones."""
    read: list[Waiting] = []
    size = 0
    for conversation in conversations:
        read.append(_plan(job, conversation))
        size += sum(len(m.content) for m in conversation.messages)
        if len(read) >= READ_AHEAD or size >= 1024 * 1024:
            break
    return read


async def _take(
    job: ImportJob,
    entry: Waiting,
    waiting: list[Waiting],
    pending: PendingReport,
    tick: Callable[[], Awaitable[None]],
    files: FileStore,
) -> None:
    """Queue one planned conversation for its batch; written at once when it cannot be
    batched (it does not fit its window, it has files to store first, or this is a dry run)."""
    planned = entry.planned
    if planned is not None and (job.dry_run or not planned.fits_window or planned.files):
        # The report keeps the export's order.
        await _write_waiting(job, waiting, pending, tick, files)
        entry = await _write_one(entry, dry_run=job.dry_run, files=files)
    waiting.append(entry)
    if len(waiting) >= BATCH_CONVERSATIONS or _bytes(waiting) >= BATCH_BYTES:
        await _write_waiting(job, waiting, pending, tick, files)
    await tick()


def _bytes(waiting: list[Waiting]) -> int:
    return sum(entry.planned.bytes for entry in waiting if entry.planned and not entry.done)


def _plan(job: ImportJob, conversation: ImportedConversation) -> Waiting:
    settled = settle(conversation, now=utcnow())
    item = ImportItem(
        source_id=conversation.source_id[:256] or "(none)",
        title=(conversation.title or "")[:200] or None,
        outcome="failed",
        problems=settled.problems[:50],
    )
    if not conversation.source_id:
        item.error = "the conversation has no id in the export"
        return Waiting(item, done=True)
    try:
        return Waiting(item, plan(job.owner_id, conversation, settled))
    except ConversationRefused as exc:
        item.error = str(exc)
        return Waiting(item, done=True)


async def _write_one(
    entry: Waiting, *, dry_run: bool, files: FileStore, known: tuple[int, set] | None = None
) -> Waiting:
    """One conversation written, or reported failed with nothing of it written."""
    assert entry.planned is not None
    try:
        written = await write_conversation(
            entry.planned, dry_run=dry_run, known=known, file_store=files
        )
    except ConversationRefused as exc:
        entry.item.error = str(exc)
        entry.done = True
        return entry
    return _written(entry, written)


def _written(entry: Waiting, written: Written) -> Waiting:
    entry.item.outcome = written.outcome  # type: ignore[assignment]
    entry.item.conversation_id = written.conversation_id  # type: ignore[assignment]
    entry.item.messages_added = written.messages_added
    entry.item.problems = written.problems[:50]
    entry.item.files = written.files
    entry.branches = written.branches
    entry.done = True
    return entry


async def _write_waiting(
    job: ImportJob,
    waiting: list[Waiting],
    pending: PendingReport,
    tick: Callable[[], Awaitable[None]],
    files: FileStore,
) -> None:
    """The waiting conversations that fit their window in one insert; those that exist
    already, one by one; then every waiting item into the report, in the export's order."""
    batch = [entry for entry in waiting if not entry.done]
    planned = [entry.planned for entry in batch if entry.planned is not None]
    results = await write_new(job.owner_id, planned)
    existing = [entry for entry, written in zip(batch, results, strict=True) if written is None]
    # Those that exist (a re-import): their messages read in one go, then each given what it
    # lacks (usually nothing).
    known = (
        await message_ids_of(
            conversations_of(job.owner_id),
            [entry.planned.conversation_id for entry in existing if entry.planned],
        )
        if existing
        else {}
    )
    for entry, written in zip(batch, results, strict=True):
        if written is not None:
            _written(entry, written)
            continue
        assert entry.planned is not None
        ids = known.get(entry.planned.conversation_id, (-1, set()))
        await _write_one(entry, dry_run=False, files=files, known=ids)
        await tick()
    for entry in waiting:
        pending.add(entry.item, entry.branches)
    waiting.clear()


async def get_import(user: User, import_id: str, settings: Settings) -> ImportJob:
    scope = imports_of(user)
    job = await scope.get_or_404(import_id)
    if _stale(job, settings):
        await fail_interrupted(settings, scope, job_id=job.id)
        job = await scope.get_or_404(import_id)
    return job


async def list_imports(user: User, params: CursorParams, settings: Settings) -> Page[ImportJob]:
    scope = imports_of(user)
    page = await scope.list_page(params)
    if any(_stale(job, settings) for job in page.items):
        await fail_interrupted(settings, scope)
        page = await scope.list_page(params)
    return page


LIVE = ("queued", "running")


def _beat_limit(settings: Settings) -> datetime:
    """A live job whose heartbeat is older than this was interrupted: its process is gone."""
    return utcnow() - timedelta(seconds=settings.import_stale_seconds)


def _stale(job: ImportJob, settings: Settings) -> bool:
    """`fail_interrupted`'s filter, for a job already read."""
    beat = job.heartbeat_at  # set when the job is created
    return job.status in LIVE and beat is not None and beat < _beat_limit(settings)


async def fail_interrupted(
    settings: Settings, scope: Scope[ImportJob] | None = None, *, job_id: Any = None
) -> int:
    """Mark failed the jobs whose heartbeat stopped (their process is gone): one job or the
    caller's, or every owner's at start-up. Guarded by the heartbeat, so a job that beats
    again meanwhile is left running."""
    stale: dict[str, Any] = {
        "status": {"$in": list(LIVE)},
        "heartbeat_at": {"$lt": _beat_limit(settings)},
    }
    update = {
        "$set": {"status": "failed", "error": INTERRUPTED, "finished_at": utcnow()},
        "$addToSet": FINISHED_EVENT,  # relayed by the dispatcher's next round
    }
    if scope is not None and job_id is not None:
        return 1 if await scope.update_one(job_id, update, extra=stale) else 0
    if scope is not None:
        return await scope.update_many(stale, update)
    result = await ImportJob.find(stale).update_many(update)
    return result.modified_count if result is not None else 0

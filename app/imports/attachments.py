"""Files an export carried (a ChatGPT ZIP's images and uploaded documents), stored as the owner's
files: the bytes go into the content-addressed store and count against the storage limit like any
upload, and a file handle linked to the conversation names them.

A handle's id is derived from the conversation and the export's id of the file, so a re-import
finds the handles it wrote and reads no bytes again, and a message records its files' ids before
they are stored. A conversation's files are stored before the conversation is written; when one
cannot be (the storage limit, a damaged member), the handles this attempt wrote are removed and
the conversation is refused whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bson import ObjectId

from app import engine, storage
from app.auth.scoping import owned
from app.content_types import detect, safe_filename
from app.errors import AppError
from app.imports.shape import ImportedFile
from documents.file import FileLinks, StoredFile

KIND = "import"

ChunksOf = Callable[[str], AsyncIterator[bytes]]


class AttachmentRefused(ValueError):
    """A file of the conversation could not be stored; none of its files were kept."""


@dataclass(frozen=True)
class PlannedFile:
    file_id: ObjectId
    message_id: ObjectId  # the message naming it
    filename: str
    content_type: str | None
    member: str  # the ZIP member holding its bytes


def plan_files(
    message_id: ObjectId, files: list[ImportedFile], id_of: Callable[[str], ObjectId]
) -> list[PlannedFile]:
    """The files of one message that the export has bytes for, each once; `id_of` derives a
    handle's id from the export's id of the file."""
    planned: dict[ObjectId, PlannedFile] = {}
    for file in files:
        if file.member is None or file.source_id is None:
            continue
        file_id = id_of(file.source_id)
        # A pointer's name is only the file's id; the member's name carries the original one.
        name = file.name if file.name != file.source_id else file.member.rsplit("/", 1)[-1]
        planned.setdefault(
            file_id,
            PlannedFile(file_id, message_id, safe_filename(name), file.content_type, file.member),
        )
    return list(planned.values())


@dataclass
class FileStore:
    """Where an export's file bytes are read from, and the size one file may have."""

    chunks_of: ChunksOf
    max_bytes: int

    async def store(
        self, owner_id: ObjectId, conversation_id: ObjectId, files: list[PlannedFile]
    ) -> int:
        """Store the files that have no handle yet; how many were stored. AttachmentRefused, with
        nothing of this call kept, when one cannot be."""
        if not files:
            return 0
        scope = owned(StoredFile, owner_id)
        have = set(await scope.distinct("_id", {"_id": {"$in": [f.file_id for f in files]}}))
        missing = [f for f in files if f.file_id not in have]
        written: list[ObjectId] = []
        try:
            # On failure the lease's exit stops counting what this call stored.
            async with storage.upload_lease(owner_id) as lease:
                try:
                    for file in missing:
                        blob = await storage.put(
                            owner_id,
                            self.chunks_of(file.member),
                            lease=lease,
                            max_bytes=self.max_bytes,
                        )
                        handle = scope.new(
                            id=file.file_id,
                            filename=file.filename,
                            content_type=detect(blob.head, file.content_type, file.filename),
                            size=blob.size,
                            sha256=blob.sha256,
                            kind=KIND,
                            links=FileLinks(conversation_id=conversation_id),
                        )
                        # False: a racing import of the same file wrote the handle first.
                        if await engine.insert_unless_exists(handle):
                            written.append(file.file_id)
                except BaseException:
                    if written:
                        await scope.delete_many({"_id": {"$in": written}})
                    raise
        except AppError as exc:  # the storage limit, a file over the size limit
            raise AttachmentRefused(exc.detail) from exc
        except ValueError as exc:  # a member the reader refused (a ZIP bomb, a damaged member)
            raise AttachmentRefused(str(exc)) from exc
        return len(written)

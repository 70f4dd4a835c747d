"""Uploads into the owner's content-addressed store, file handles, and their listing."""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId

from app import storage
from app.auth.scoping import owned, parse_object_id
from app.content_types import IMAGE_TYPES, detect, safe_filename
from app.errors import Unprocessable
from app.files.schemas import FilePatch
from app.folders.placement import PLACEMENT_FIELDS, placement_changes
from app.links import require_owned_links
from app.pagination import CursorParams, Page
from app.trash.moves import discard_or_404
from app.uploads import MultipartUpload
from documents import LINKABLE
from documents.base import utcnow
from documents.file import StoredFile
from documents.user import User

KIND = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
LINK_FIELDS = ("workflow_id", "conversation_id", "generation_id", "site_id", "drawing_id")


async def store_upload(
    user: User,
    upload: MultipartUpload,
    *,
    kind: str | None = None,
    links: dict[str, ObjectId] | None = None,
) -> StoredFile:
    """Stream the upload into the blob store, then record the handle. Nothing is stored when
    the upload fails part-way, is empty or too large. `links` come from the calling code and are
    trusted; links sent as form fields are checked for ownership."""
    owner = ObjectId(str(user.id))
    async with storage.upload_lease(owner) as lease:
        blob = await storage.put(
            user, upload.file_chunks(), lease=lease, max_bytes=upload.max_bytes
        )
        return await _record_handle(user, upload, blob, kind, links)


async def _record_handle(
    user: User,
    upload: MultipartUpload,
    blob: storage.StoredBlob,
    kind: str | None,
    links: dict[str, ObjectId] | None,
) -> StoredFile:
    """The handle onto a stored blob, written while the upload's lease still holds the blob."""
    kind = kind if kind is not None else upload.fields.get("kind") or None
    if kind is not None and not KIND.match(kind):
        raise Unprocessable(
            "`kind` is 1-64 lowercase letters, digits, `_`, `.` or `-`.", field="body.kind"
        )
    sent = await require_owned_links(
        user,
        **{
            name: upload.fields[name]
            for name in LINK_FIELDS
            if upload.fields.get(name) and name in LINKABLE
        },
    )
    links = {**sent, **(links or {})}
    handle = owned(StoredFile, user).new(
        filename=safe_filename(upload.filename),
        content_type=detect(blob.head, upload.content_type, upload.filename),
        size=blob.size,
        sha256=blob.sha256,
        kind=kind,
        links={name: value for name, value in links.items() if value is not None},
    )
    await handle.insert()
    return handle


async def get_file(user: User, file_id: str) -> StoredFile:
    return await owned(StoredFile, user).get_or_404(file_id)


async def list_files(
    user: User,
    params: CursorParams,
    *,
    kind: str | None = None,
    extra: dict[str, Any] | None = None,
    pinned_first: bool = False,
) -> Page[StoredFile]:
    conditions: dict[str, Any] = dict(extra or {})
    if kind is not None:
        conditions["kind"] = kind
    return await owned(StoredFile, user).list_page(
        params, extra=conditions, pinned_first=pinned_first
    )


async def update_file(user: User, file_id: str, patch: FilePatch) -> StoredFile:
    """Its name (made safe, as at upload), pin for retention, folder, tags and pin in lists."""
    changes = patch.model_dump(exclude_unset=True, exclude=PLACEMENT_FIELDS)
    if "filename" in changes:
        changes["filename"] = safe_filename(changes["filename"])
    changes |= await placement_changes(user, patch) | {"updated_at": utcnow()}
    return await owned(StoredFile, user).update_or_404(file_id, {"$set": changes})


async def delete_file(user: User, file_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) the handle goes."""
    await discard_or_404(owned(StoredFile, user), file_id, permanent=permanent, purge=purge_file)


async def purge_file(owner_id: ObjectId, oid: ObjectId) -> None:
    """Only the handle went; the blob stays while anything else (a site version, a drawing, a
    scene, another handle) references it, and `cleanup` collects it once nothing does."""
    await storage.uncount_for(owner_id)  # the storage limit frees what nothing references now


async def file_to_reference(
    user: User, file_id: str, field: str, *, images_only: bool = False
) -> StoredFile:
    """One of the caller's files that a document is about to reference (a site change, a
    preview, a scene or story image): its handle, with the blob marked as just referenced so
    garbage collection's grace period covers the write that follows. Otherwise 422."""
    handle = await owned(StoredFile, user).find_one({"_id": parse_object_id(file_id)})
    if handle is None or (images_only and handle.content_type not in IMAGE_TYPES):
        detail = (
            f"`{field}` must be one of your image files."
            if images_only
            else f"`{field}` is not one of your files."
        )
        raise Unprocessable(detail, field=f"body.{field}")
    await storage.touch(handle.owner_id, handle.sha256)
    return handle

"""Children's drawings: images checked by their bytes, stored as files, edits appended with one
`$push`. Deleting a drawing keeps its stories and unlinks them (`drawing_id` becomes null)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId

from app import storage
from app.auth.scoping import Scope, owned
from app.content_types import sniff
from app.errors import Unprocessable, UnsupportedMediaType
from app.files.service import store_upload
from app.pagination import CursorParams, Page
from app.trash.moves import discard_or_404
from app.tutorials.service import tutorial_exists
from app.uploads import MultipartUpload
from documents.base import utcnow
from documents.drawing import MAX_EDITS, Drawing, DrawingImage
from documents.file import StoredFile
from documents.story import Story
from documents.user import User

DRAWING_TYPES = {"image/png", "image/jpeg", "image/webp"}
SNIFF_BYTES = 12


def drawings_of(user: User | ObjectId) -> Scope[Drawing]:
    return owned(Drawing, user)


class ImageUpload(MultipartUpload):
    """An upload refused with 415 before anything is stored when its first bytes are not a
    PNG, JPEG or WebP image."""

    async def file_chunks(self) -> AsyncIterator[bytes]:
        head = b""
        checked = False
        async for chunk in super().file_chunks():
            if not checked:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) < SNIFF_BYTES:
                    yield chunk
                    continue
                checked = True
                if sniff(head) not in DRAWING_TYPES:
                    raise UnsupportedMediaType("A drawing must be a PNG, JPEG or WebP image.")
            yield chunk
        if not checked and head and sniff(head) not in DRAWING_TYPES:
            raise UnsupportedMediaType("A drawing must be a PNG, JPEG or WebP image.")


async def _store_image(
    user: User, upload: ImageUpload, drawing_id: ObjectId, kind: str
) -> DrawingImage:
    handle = await store_upload(user, upload, kind=kind, links={"drawing_id": drawing_id})
    return DrawingImage(
        file_id=handle.id,
        sha256=handle.sha256,
        filename=handle.filename,
        content_type=handle.content_type,
        size=handle.size,
        created_at=handle.created_at,
    )


async def create_drawing(user: User, upload: ImageUpload) -> Drawing:
    drawing_id = ObjectId()
    image = await _store_image(user, upload, drawing_id, "drawing")
    slug = upload.fields.get("tutorial_slug") or None
    if slug is not None and not await tutorial_exists(slug):
        await owned(StoredFile, user).delete_or_404(image.file_id)
        await storage.uncount_for(user)
        raise Unprocessable(f"There is no tutorial `{slug}`.", field="body.tutorial_slug")
    drawing = drawings_of(user).new(id=drawing_id, tutorial_slug=slug, uploaded_image=image)
    await drawing.insert()
    return drawing


async def add_edit(user: User, drawing_id: str, upload: ImageUpload) -> Drawing:
    scope = drawings_of(user)
    if not await scope.exists(drawing_id):  # a foreign id is 404 before any upload
        raise scope.not_found()
    oid = ObjectId(drawing_id)
    image = await _store_image(user, upload, oid, "drawing-edit")
    updated = await scope.update(
        oid,
        {
            "$push": {"edited_images": image.model_dump()},
            "$inc": {"edit_count": 1},
            "$set": {"updated_at": utcnow()},
        },
        extra={"edit_count": {"$lt": MAX_EDITS}},
    )
    if updated is None:
        await owned(StoredFile, user).delete_or_404(image.file_id)
        await storage.uncount_for(user)
        if await scope.exists(oid):
            raise Unprocessable(f"A drawing keeps at most {MAX_EDITS} edits.")
        raise scope.not_found()
    return updated


async def get_drawing(user: User, drawing_id: str) -> Drawing:
    return await drawings_of(user).get_or_404(drawing_id)


async def list_drawings(
    user: User, params: CursorParams, *, tutorial_slug: str | None
) -> Page[Drawing]:
    conditions: dict[str, Any] = {}
    if tutorial_slug:
        conditions["tutorial_slug"] = tutorial_slug
    return await drawings_of(user).list_page(params, extra=conditions)


async def delete_drawing(user: User, drawing_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) gone with its image files."""
    await discard_or_404(drawings_of(user), drawing_id, permanent=permanent, purge=purge_drawing)


async def purge_drawing(owner_id: ObjectId, oid: ObjectId) -> None:
    """What goes with a deleted drawing: its image files; its stories stay, unlinked."""
    await owned(Story, owner_id, trash="include").update_many(
        {"drawing_id": oid}, {"$set": {"drawing_id": None, "updated_at": utcnow()}}
    )
    await owned(StoredFile, owner_id, trash="include").delete_many({"links.drawing_id": oid})
    await storage.uncount_for(owner_id)

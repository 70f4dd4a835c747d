"""Children's drawings: images checked by their bytes, stored as files, edits appended with one
`$push`. Deleting a drawing keeps its stories and unlinks them (`drawing_id` becomes null)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope, owned
from app.content_types import sniff
from app.errors import NotFound, Unprocessable, UnsupportedMediaType
from app.files.service import store_upload
from app.uploads import MultipartUpload
from documents.base import utcnow
from documents.drawing import MAX_EDITS, Drawing
from documents.file import StoredFile
from documents.story import Story
from documents.tutorial import Tutorial
from documents.user import User

DRAWING_TYPES = {"image/png", "image/jpeg", "image/webp"}
SNIFF_BYTES = 12


def drawings_of(user: User | ObjectId) -> Scope[Drawing]:
    return owned(Drawing, user)


def _image_view(image: dict[str, Any]) -> dict[str, Any]:
    return {**image, "id": image["file_id"]}


def drawing_view(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        **raw,
        "uploaded_image": _image_view(raw["uploaded_image"]),
        "edited_images": [_image_view(i) for i in raw.get("edited_images", [])],
    }


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


async def _store_image(user: User, upload: ImageUpload, drawing_id: ObjectId, kind: str) -> dict:
    handle = await store_upload(user, upload, kind=kind, links={"drawing_id": drawing_id})
    return {
        "file_id": handle.id,
        "sha256": handle.sha256,
        "filename": handle.filename,
        "content_type": handle.content_type,
        "size": handle.size,
        "created_at": handle.created_at,
    }


async def create_drawing(user: User, upload: ImageUpload) -> dict[str, Any]:
    drawing_id = ObjectId()
    image = await _store_image(user, upload, drawing_id, "drawing")
    slug = upload.fields.get("tutorial_slug") or None
    if slug is not None and await Tutorial.find_one({"slug": slug}) is None:
        await owned(StoredFile, user).delete_one(image["file_id"])
        raise Unprocessable(f"There is no tutorial `{slug}`.", field="body.tutorial_slug")
    drawing = drawings_of(user).new(id=drawing_id, tutorial_slug=slug, uploaded_image=image)
    await drawing.insert()
    return drawing_view(drawing.model_dump() | {"_id": drawing.id})


async def add_edit(user: User, drawing_id: str, upload: ImageUpload) -> dict[str, Any]:
    scope = drawings_of(user)
    raw = await scope.get_raw(drawing_id, {"_id": 1})  # a foreign id is 404 before any upload
    image = await _store_image(user, upload, raw["_id"], "drawing-edit")
    updated = await scope.find_one_and_update(
        raw["_id"],
        {
            "$push": {"edited_images": image},
            "$inc": {"edit_count": 1},
            "$set": {"updated_at": utcnow()},
        },
        extra={"edit_count": {"$lt": MAX_EDITS}},
    )
    if updated is None:
        await owned(StoredFile, user).delete_one(image["file_id"])
        if await scope.exists(raw["_id"]):
            raise Unprocessable(f"A drawing keeps at most {MAX_EDITS} edits.")
        raise NotFound("No such drawing.")
    return drawing_view(updated)


async def get_drawing(user: User, drawing_id: str) -> dict[str, Any]:
    return drawing_view(await drawings_of(user).get_raw(drawing_id))


async def list_drawings(
    user: User, tutorial_slug: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    scope = drawings_of(user)
    conditions: dict[str, Any] = {}
    if tutorial_slug:
        conditions["tutorial_slug"] = tutorial_slug
    rows, next_cursor = await scope.newest_first(conditions, limit=limit, cursor=cursor)
    return [drawing_view(r) for r in rows], next_cursor


async def delete_drawing(user: User, drawing_id: str) -> None:
    """The drawing and its image files go; its stories stay, unlinked."""
    scope = drawings_of(user)
    raw = await scope.get_raw(drawing_id, {"_id": 1})
    await owned(Story, user).update_many(
        {"drawing_id": raw["_id"]}, {"$set": {"drawing_id": None, "updated_at": utcnow()}}
    )
    await scope.delete_one(raw["_id"])
    await owned(StoredFile, user).delete_many({"links.drawing_id": raw["_id"]})

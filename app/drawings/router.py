from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response, status

from app.auth.dependencies import Access, CurrentUser, SettingsDep
from app.drawings import service
from app.drawings.schemas import DrawingRead
from app.openapi import LEGAL_HOLD, multipart_body, problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import Permanent

router = AreaRouter(prefix="/drawings", tags=["drawings"], access=Access("drawings"))


@router.post(
    "",
    operation_id="drawings_create",
    responses=problems(
        (400, "The upload was cut off"),
        (413, "Over MAX_UPLOAD_BYTES"),
        (415, "Not a PNG, JPEG or WebP image"),
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=DrawingRead,
    openapi_extra=multipart_body("image", tutorial_slug={"type": "string", "maxLength": 64}),
)
async def create_drawing(request: Request, user: CurrentUser, settings: SettingsDep):
    """Multipart `image` (PNG, JPEG or WebP by its bytes, else 415) and optional
    `tutorial_slug` (must exist, else 422)."""
    upload = service.ImageUpload(request, "image", settings.max_upload_bytes)
    return await service.create_drawing(user, upload)


@router.post(
    "/{drawing_id}/edits",
    operation_id="drawings_add_edit",
    responses=problems(
        (400, "The upload was cut off"),
        (413, "Over MAX_UPLOAD_BYTES"),
        (415, "Not a PNG, JPEG or WebP image"),
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=DrawingRead,
    openapi_extra=multipart_body("image"),
)
async def add_edit(drawing_id: str, request: Request, user: CurrentUser, settings: SettingsDep):
    """The drawing with this edited image appended."""
    upload = service.ImageUpload(request, "image", settings.max_upload_bytes)
    return await service.add_edit(user, drawing_id, upload)


@router.get("", operation_id="drawings_list", response_model=Page[DrawingRead])
async def list_drawings(
    user: CurrentUser,
    params: Pagination,
    tutorial_slug: Annotated[str | None, Query(max_length=64)] = None,
):
    return await service.list_drawings(user, params, tutorial_slug=tutorial_slug)


@router.get("/{drawing_id}", operation_id="drawings_get", response_model=DrawingRead)
async def get_drawing(drawing_id: str, user: CurrentUser):
    return await service.get_drawing(user, drawing_id)


@router.delete(
    "/{drawing_id}",
    operation_id="drawings_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_drawing(
    drawing_id: str, user: CurrentUser, permanent: Permanent = False
) -> Response:
    """Its stories are kept and unlinked (`drawing_id` becomes null)."""
    await service.delete_drawing(user, drawing_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

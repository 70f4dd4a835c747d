from __future__ import annotations

from typing import Annotated

from bson import ObjectId
from fastapi import Query, Request, Response, status

from app.auth.dependencies import Access, CurrentUser, SettingsDep
from app.blob_responses import (
    BLOB_REQUEST_HEADERS,
    blob_response,
    blob_responses,
    content_disposition,
)
from app.files import service
from app.files.schemas import FilePatch, FileRead
from app.folders.placement import PlacementQuery
from app.openapi import LEGAL_HOLD, multipart_body, problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import Permanent
from app.uploads import MultipartUpload

router = AreaRouter(prefix="/files", tags=["files"], access=Access("files"))

UPLOAD_BODY = multipart_body("file", kind={"type": "string", "maxLength": 64})


@router.post(
    "",
    operation_id="files_upload",
    status_code=status.HTTP_201_CREATED,
    response_model=FileRead,
    openapi_extra=UPLOAD_BODY,
    responses=problems(
        (400, "The upload was cut off"),
        (413, "Over MAX_UPLOAD_BYTES"),
        (415, "Not multipart/form-data"),
    ),
)
async def upload_file(request: Request, user: CurrentUser, settings: SettingsDep):
    """Multipart `file` (+ optional `kind`), streamed into storage; identical bytes are stored
    once per user. The content type comes from the bytes, the client's only as a hint."""
    upload = MultipartUpload(request, "file", settings.max_upload_bytes)
    return await service.store_upload(user, upload)


@router.get("", operation_id="files_list", response_model=Page[FileRead])
async def list_files(
    user: CurrentUser,
    params: Pagination,
    placed: PlacementQuery,
    kind: Annotated[str | None, Query(max_length=64)] = None,
):
    """Pinned first, then newest."""
    return await service.list_files(user, params, kind=kind, extra=placed, pinned_first=True)


@router.patch("/{file_id}", operation_id="files_update", response_model=FileRead)
async def update_file(file_id: str, body: FilePatch, user: CurrentUser):
    return await service.update_file(user, file_id, body)


@router.get("/{file_id}", operation_id="files_get", response_model=FileRead)
async def get_file(file_id: str, user: CurrentUser):
    return await service.get_file(user, file_id)


@router.get(
    "/{file_id}/content",
    operation_id="files_download",
    response_class=Response,
    responses=blob_responses(attachment=True),
    openapi_extra=BLOB_REQUEST_HEADERS,
)
async def download_file(file_id: str, request: Request, user: CurrentUser) -> Response:
    """The bytes. `ETag` is the sha256; `Range` → 206; `If-None-Match` → 304."""
    handle = await service.get_file(user, file_id)
    return blob_response(
        request,
        ObjectId(str(user.id)),
        handle.sha256,
        handle.size,
        handle.content_type,
        extra_headers={"Content-Disposition": content_disposition(handle.filename)},
    )


@router.delete(
    "/{file_id}",
    operation_id="files_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_file(file_id: str, user: CurrentUser, permanent: Permanent = False) -> Response:
    await service.delete_file(user, file_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

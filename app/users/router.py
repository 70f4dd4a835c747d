from __future__ import annotations

from fastapi import Response, status
from fastapi.responses import StreamingResponse

from app.auth.dependencies import ACCOUNT_ACCESS, CurrentUser
from app.blob_responses import archive_responses
from app.openapi import LEGAL_HOLD
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.users import service
from app.users.schemas import (
    AccountDeletion,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    UserPatch,
    UserRead,
)

router = AreaRouter(prefix="/users/me", tags=["users"], access=ACCOUNT_ACCESS)


@router.get("", operation_id="users_get_me", response_model=UserRead)
async def read_me(user: CurrentUser):
    return user


@router.patch("", operation_id="users_update_me", response_model=UserRead)
async def update_me(body: UserPatch, user: CurrentUser):
    return await service.update_profile(user, body)


@router.delete(
    "",
    operation_id="users_delete_me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_me(body: AccountDeletion, user: CurrentUser) -> Response:
    await service.delete_account(user, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/export",
    operation_id="users_export_me",
    response_class=StreamingResponse,
    responses=archive_responses(),
)
async def export_me(user: CurrentUser) -> StreamingResponse:
    return StreamingResponse(
        service.export_account(user),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="genstore-export.zip"'},
    )


@router.post(
    "/api-keys",
    operation_id="api_keys_create",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
)
async def create_api_key(body: ApiKeyCreate, user: CurrentUser):
    api_key, key = await service.create_api_key(user, body)
    return ApiKeyCreated.model_validate({**api_key.model_dump(), "id": api_key.id, "key": key})


@router.get("/api-keys", operation_id="api_keys_list", response_model=Page[ApiKeyRead])
async def list_api_keys(user: CurrentUser, params: Pagination):
    return await service.list_api_keys(user, params)


@router.delete(
    "/api-keys/{key_id}", operation_id="api_keys_revoke", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_api_key(key_id: str, user: CurrentUser) -> Response:
    await service.revoke_api_key(user, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

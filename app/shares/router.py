"""Share links. The owner makes them on a conversation or a site and manages them under
`/shares`; anyone with the link reads `/s/{token}` (no account, nothing else leaked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request, Response, status

from app.auth.dependencies import Access, CurrentUser, SettingsDep
from app.blob_responses import (
    BLOB_REQUEST_HEADERS,
    PUBLIC_SITE_HEADERS,
    blob_response,
    blob_responses,
)
from app.openapi import problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.shares import service
from app.shares.schemas import (
    ConversationShareCreate,
    Resource,
    SharedConversationRead,
    SharePatch,
    ShareRead,
    SiteShareCreate,
)
from documents.share import Share

conversation_shares = AreaRouter(
    prefix="/conversations", tags=["shares"], access=Access("conversations")
)
site_shares = AreaRouter(prefix="/sites", tags=["shares"], access=Access("sites"))
router = AreaRouter(prefix="/shares", tags=["shares"], access=Access("shares"))
public_router = AreaRouter(tags=["shares"])
SHARE_ERRORS = problems(
    (401, "The share has a password: send it in `Share-Password`"),
    (404, "No such share"),
    (410, "Expired, exhausted or revoked (the detail says which)"),
    (429, "Too many wrong passwords"),
)

PasswordHeader = Annotated[
    str | None, Header(alias="Share-Password", description="The share's password, if it has one")
]


@conversation_shares.post(
    "/{conversation_id}/shares",
    operation_id="shares_create_for_conversation",
    status_code=status.HTTP_201_CREATED,
    response_model=ShareRead,
)
async def share_conversation(
    conversation_id: str, body: ConversationShareCreate, user: CurrentUser, settings: SettingsDep
):
    """A link to the conversation: `snapshot` (as it is now, up to `up_to_message_id`, default
    the last message) or `live`. The link (`token`, `url`) is shown in this answer only."""
    share, token = await service.share_conversation(user, conversation_id, body)
    return ShareRead.of(share, token=token, base_url=settings.public_base_url)


@site_shares.post(
    "/{site_id}/shares",
    operation_id="shares_create_for_site",
    status_code=status.HTTP_201_CREATED,
    response_model=ShareRead,
)
async def share_site(site_id: str, body: SiteShareCreate, user: CurrentUser, settings: SettingsDep):
    """A link to the site, published or not: `snapshot` pins `version` (default current),
    `live` follows the current version. The link is shown in this answer only."""
    share, token = await service.share_site(user, site_id, body)
    return ShareRead.of(share, token=token, base_url=settings.public_base_url)


@router.get("", operation_id="shares_list", response_model=Page[ShareRead])
async def list_shares(user: CurrentUser, params: Pagination, resource: Resource | None = None):
    """Your share links, newest first."""
    page = await service.list_shares(user, params, resource=resource)
    return Page(items=[ShareRead.of(share) for share in page.items], next_cursor=page.next_cursor)


@router.get("/{share_id}", operation_id="shares_get", response_model=ShareRead)
async def get_share(share_id: str, user: CurrentUser):
    return ShareRead.of(await service.get_share(user, share_id))


@router.patch(
    "/{share_id}",
    operation_id="shares_update",
    responses=problems((409, "The share is being viewed too often to change now; retry")),
    response_model=ShareRead,
)
async def update_share(share_id: str, body: SharePatch, user: CurrentUser):
    """`{expires_at?, max_views?, password?}`; `password: null` removes the password."""
    return ShareRead.of(await service.update_share(user, share_id, body))


@router.delete("/{share_id}", operation_id="shares_revoke", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_share(share_id: str, user: CurrentUser) -> Response:
    """Revokes the link at once (viewers get 410); the share stays listed as revoked."""
    await service.revoke_share(user, share_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public_router.get(
    "/s/{token}",
    operation_id="shared_view",
    response_model=SharedConversationRead,
    responses={
        **blob_responses(),
        200: {
            "description": "A conversation as JSON, or a site's index page in its stored type",
            "content": {
                "application/json": {},
                "*/*": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **SHARE_ERRORS,
    },
    openapi_extra=BLOB_REQUEST_HEADERS,
)
async def view_share(token: str, request: Request, password: PasswordHeader = None):
    """No auth. Each successful view counts toward `max_views`. A conversation share answers
    JSON; a site share its index page (generated clients read that through
    `shared_view_file` with `path=index.html`, as bytes)."""
    share = await service.open_share(token, password, count_view=True)
    if share.resource == "site":
        return await _site_file(share, "index.html", request)
    shared = await service.shared_conversation(share)
    return SharedConversationRead.model_validate(shared, from_attributes=True)


@public_router.get(
    "/s/{token}/{path:path}",
    operation_id="shared_view_file",
    response_class=Response,
    responses={**blob_responses(), **SHARE_ERRORS},
    openapi_extra=BLOB_REQUEST_HEADERS,
)
async def view_shared_file(
    token: str, path: str, request: Request, password: PasswordHeader = None
) -> Response:
    """No auth: another file of a shared site (not counted as a view)."""
    share = await service.open_share(token, password, count_view=False)
    return await _site_file(share, path or "index.html", request)


async def _site_file(share: Share, path: str, request: Request) -> Response:
    owner, file = await service.shared_site_file(share, path)
    return blob_response(
        request, owner, file.sha256, file.size, file.content_type, extra_headers=PUBLIC_SITE_HEADERS
    )

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.auth.dependencies import Access, CurrentUser, SettingsDep
from app.blob_responses import (
    BLOB_REQUEST_HEADERS,
    PUBLIC_SITE_HEADERS,
    archive_responses,
    blob_response,
    blob_responses,
    content_disposition,
)
from app.folders.placement import PlacementQuery
from app.openapi import LEGAL_HOLD, problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import Permanent
from app.sites import service
from app.sites.schemas import (
    PublishRequest,
    RestoreRequest,
    SiteCreate,
    SiteDiff,
    SitePatch,
    SiteRead,
    SiteSummary,
    VersionCreate,
    VersionManifest,
    VersionRead,
    VersionSummary,
)

router = AreaRouter(prefix="/sites", tags=["sites"], access=Access("sites"))

VersionQuery = Annotated[int | None, Query(ge=1, le=10**9, description="Default: current")]


@router.post(
    "", operation_id="sites_create", status_code=status.HTTP_201_CREATED, response_model=SiteRead
)
async def create_site(body: SiteCreate, user: CurrentUser, settings: SettingsDep):
    return SiteRead.of(await service.create_site(user, body), settings)


@router.get("", operation_id="sites_list", response_model=Page[SiteSummary])
async def list_sites(
    user: CurrentUser, settings: SettingsDep, params: Pagination, placed: PlacementQuery
):
    """Pinned first, then newest."""
    page = await service.list_sites(user, params, placed)
    items = [SiteSummary.of(site, settings) for site in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/{site_id}", operation_id="sites_get", response_model=SiteRead)
async def get_site(site_id: str, user: CurrentUser, settings: SettingsDep):
    return SiteRead.of(await service.get_site(user, site_id), settings)


@router.patch("/{site_id}", operation_id="sites_update", response_model=SiteRead)
async def update_site(site_id: str, body: SitePatch, user: CurrentUser, settings: SettingsDep):
    return SiteRead.of(await service.update_site(user, site_id, body), settings)


@router.delete(
    "/{site_id}",
    operation_id="sites_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_site(site_id: str, user: CurrentUser, permanent: Permanent = False) -> Response:
    await service.delete_site(user, site_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{site_id}/versions",
    operation_id="site_versions_commit",
    responses=problems((409, "`base_version` is not the current version")),
    status_code=status.HTTP_201_CREATED,
    response_model=VersionRead,
)
async def commit_version(site_id: str, body: VersionCreate, user: CurrentUser):
    """Commit changes against `base_version`; a stale base is 409 and changes nothing."""
    return await service.commit_site_version(user, site_id, body)


@router.get(
    "/{site_id}/versions", operation_id="site_versions_list", response_model=Page[VersionSummary]
)
async def list_versions(site_id: str, user: CurrentUser, params: Pagination):
    """Newest first."""
    return await service.list_versions(user, site_id, params)


@router.get(
    "/{site_id}/versions/{number}", operation_id="site_versions_get", response_model=VersionManifest
)
async def get_version(site_id: str, number: int, user: CurrentUser):
    files = await service.version_manifest(user, site_id, number)
    # Validated from the files' field dicts: pydantic reads those faster than attributes.
    return VersionManifest.model_validate(
        {"number": number, "files": [file.__dict__ for file in files]}
    )


@router.get(
    "/{site_id}/files/{path:path}",
    operation_id="site_files_download",
    response_class=Response,
    responses=blob_responses(),
    openapi_extra=BLOB_REQUEST_HEADERS,
)
async def get_site_file(
    site_id: str, path: str, request: Request, user: CurrentUser, version: VersionQuery = None
) -> Response:
    owner, file = await service.site_file(user, site_id, path, version)
    return blob_response(request, owner, file.sha256, file.size, file.content_type)


@router.get("/{site_id}/diff", operation_id="sites_diff", response_model=SiteDiff)
async def diff(
    site_id: str,
    user: CurrentUser,
    from_: Annotated[int, Query(alias="from", ge=0, le=10**9)],
    to: Annotated[int, Query(ge=0, le=10**9)],
):
    return await service.diff_versions(user, site_id, from_, to)


@router.post(
    "/{site_id}/restore",
    operation_id="site_versions_restore",
    responses=problems((409, "Another version was committed meanwhile")),
    status_code=status.HTTP_201_CREATED,
    response_model=VersionRead,
)
async def restore(site_id: str, body: RestoreRequest, user: CurrentUser):
    """A new version whose files equal the given version's; history is kept."""
    return await service.restore_version(user, site_id, body.version, body.description)


@router.post("/{site_id}/publish", operation_id="sites_publish", response_model=SiteRead)
async def publish(site_id: str, body: PublishRequest, user: CurrentUser, settings: SettingsDep):
    return SiteRead.of(await service.set_published(user, site_id, body.version, True), settings)


@router.post("/{site_id}/unpublish", operation_id="sites_unpublish", response_model=SiteRead)
async def unpublish(site_id: str, user: CurrentUser, settings: SettingsDep):
    return SiteRead.of(await service.set_published(user, site_id, None, False), settings)


@router.get(
    "/{site_id}/export",
    operation_id="sites_export",
    response_class=StreamingResponse,
    responses=archive_responses(),
)
async def export(
    site_id: str, user: CurrentUser, version: VersionQuery = None
) -> StreamingResponse:
    number, archive = await service.export_version(user, site_id, version)
    return StreamingResponse(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": content_disposition(f"site-{site_id}-v{number}.zip")},
    )


public_router = AreaRouter(tags=["published sites"])


@public_router.get(
    "/p/{site_id}/{path:path}",
    operation_id="published_sites_serve",
    response_class=Response,
    responses={**blob_responses(), **problems((404, "No such site, or it is not published"))},
    openapi_extra=BLOB_REQUEST_HEADERS,
)
async def serve_published(site_id: str, path: str, request: Request) -> Response:
    """No auth: the published version's file (`index.html` for an empty path); 404 when the
    site is not published."""
    owner, file = await service.published_file(site_id, path)
    return blob_response(
        request,
        owner,
        file.sha256,
        file.size,
        file.content_type,
        extra_headers=PUBLIC_SITE_HEADERS,
    )

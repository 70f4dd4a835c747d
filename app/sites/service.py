"""Sites and their version history: commits with optimistic concurrency, replay, diff, restore,
publish, public serving and ZIP export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId

from app import storage
from app.auth.scoping import Scope, owned, parse_object_id, public
from app.content_types import for_path
from app.conversations.service import message_exists
from app.errors import Conflict, NotFound, Unprocessable
from app.files.service import file_to_reference
from app.folders.placement import PLACEMENT_FIELDS, placement_changes
from app.links import require_owned_links
from app.pagination import CursorParams, Page, decode_cursor, encode_cursor
from app.shares.service import delete_shares_of
from app.sites.schemas import ChangeIn, SiteCreate, SitePatch, VersionCreate
from app.sites.versions import (
    cached_manifest,
    existing_version,
    file_at,
    file_in,
    manifest_of_version,
    remember_manifest,
)
from app.trash.moves import discard_or_404
from app.zipstream import ZipWriter
from documents.base import utcnow
from documents.site import (
    CHECKPOINT_EVERY,
    Manifest,
    ManifestDiff,
    PathState,
    Site,
    SiteCard,
    SiteChange,
    SiteFile,
    SiteHead,
    SiteHistory,
    SitePreview,
    SiteVersion,
    apply_changes,
    diff_manifests,
    manifest_of,
)
from documents.user import User


def sites_of(user: User | ObjectId) -> Scope[Site]:
    return owned(Site, user)


# --- changes into blobs ----------------------------------------------------------------------


def _state(file: SiteFile | None) -> PathState | None:
    if file is None:
        return None
    return PathState(sha256=file.sha256, size=file.size, content_type=file.content_type)


async def _resolve_changes(
    user: User, changes: list[ChangeIn], manifest: Manifest, lease: storage.UploadLease
) -> list[SiteChange]:
    """Store new bytes (deduplicated) and describe each change with what the path held. The
    caller writes the version under `lease`, which holds the new blobs until then."""
    resolved = []
    for change in changes:
        prev = _state(manifest.get(change.path))
        if change.delete:
            if prev is None:
                raise Unprocessable(
                    f"`{change.path}` does not exist, so it cannot be deleted.",
                    field="body.changes",
                )
            resolved.append(SiteChange(path=change.path, op="delete", prev=prev))
            continue
        if change.file_id is not None:
            handle = await file_to_reference(user, change.file_id, "file_id")
            sha256, size = handle.sha256, handle.size
            typed_by_path = for_path(change.path) != "application/octet-stream"
            content_type = for_path(change.path) if typed_by_path else handle.content_type
        else:
            data = change.data() or b""
            if not data:
                raise Unprocessable(f"`{change.path}` would be empty.", field="body.changes")
            blob = await storage.put_bytes(user, data, lease=lease)
            sha256, size = blob.sha256, blob.size
            content_type = for_path(change.path, blob.head)
        resolved.append(
            SiteChange(
                path=change.path,
                op="put",
                sha256=sha256,
                size=size,
                content_type=content_type,
                prev=prev,
            )
        )
    return resolved


# --- sites -----------------------------------------------------------------------------------


async def _preview(user: User, file_id: str | None) -> SitePreview | None:
    if file_id is None:
        return None
    handle = await file_to_reference(user, file_id, "preview_file_id", images_only=True)
    return SitePreview(file_id=handle.id, sha256=handle.sha256)


async def create_site(user: User, body: SiteCreate) -> Site:
    links = await require_owned_links(
        user, conversation_id=body.conversation_id, project_id=body.project_id
    )
    now = utcnow()
    site = sites_of(user).new(
        title=body.title,
        description=body.description,
        theme=body.theme,
        created_at=now,
        updated_at=now,
        **links,
    )
    async with storage.upload_lease(ObjectId(str(user.id))) as lease:
        if body.files:
            changes = await _resolve_changes(user, body.files, {}, lease)
            site.files = apply_changes({}, changes)
            site.versions = [
                SiteVersion(number=1, changes=changes, description="Created", created_at=now)
            ]
            site.current_version = 1
        site.preview = await _preview(user, body.preview_file_id)
        await site.insert()
    return site


async def get_site(user: User, site_id: str) -> SiteHead:
    return await sites_of(user).get_or_404(site_id, projection_model=SiteHead)


async def list_sites(
    user: User, params: CursorParams, placed: dict[str, Any] | None = None
) -> Page[SiteCard]:
    return await sites_of(user).list_page(
        params, extra=placed, projection_model=SiteCard, pinned_first=True
    )


async def update_site(user: User, site_id: str, patch: SitePatch) -> Site:
    changes = patch.model_dump(exclude_unset=True, exclude={"preview_file_id", *PLACEMENT_FIELDS})
    changes |= await placement_changes(user, patch)
    if "preview_file_id" in patch.model_fields_set:
        preview = await _preview(user, patch.preview_file_id)
        changes["preview"] = preview.model_dump() if preview else None
    changes["updated_at"] = utcnow()
    return await sites_of(user).update_or_404(site_id, {"$set": changes})


async def delete_site(user: User, site_id: str, *, permanent: bool = False) -> None:
    """Into the trash, or (`permanent`) gone with its shares."""
    await discard_or_404(sites_of(user), site_id, permanent=permanent, purge=purge_site)


async def purge_site(owner_id: ObjectId, oid: ObjectId) -> None:
    """What goes with a deleted site: its shares; its blobs stay while other sites or files
    use them and are collected by `cleanup` after that."""
    await delete_shares_of(owner_id, [oid])
    await storage.uncount_for(owner_id)


# --- versions --------------------------------------------------------------------------------


async def _commit(
    user: User,
    site: SiteHead | Site,
    changes: list[SiteChange],
    *,
    description: str | None,
    label: str | None = None,
    message_id: ObjectId | None = None,
    restored_from: int | None = None,
) -> SiteVersion:
    """One findAndModify on {_id, owner, current_version: base}: of concurrent commits on one
    base exactly one matches; the others get 409."""
    base_version = site.current_version
    number = base_version + 1
    now = utcnow()
    files = apply_changes(manifest_of(site.files), changes)
    version = SiteVersion(
        number=number,
        changes=changes,
        label=label,
        description=description,
        message_id=message_id,
        restored_from=restored_from,
        created_at=now,
        checkpoint=files if number % CHECKPOINT_EVERY == 0 else None,
    )
    stored = version.model_dump(exclude_none=True)  # absent, not null: 500 versions add up
    committed = await sites_of(user).update_one(
        site.id,
        {
            "$set": {
                "files": [f.model_dump() for f in files],
                "current_version": number,
                "updated_at": now,
            },
            "$push": {"versions": stored},
        },
        extra={"current_version": base_version},
    )
    if not committed:
        current = await sites_of(user).get_or_404(site.id, projection_model=SiteCard)
        raise Conflict(
            f"The site is at version {current.current_version}, not {base_version}: "
            "fetch it and commit against the current version."
        )
    return version


async def commit_site_version(user: User, site_id: str, body: VersionCreate) -> SiteVersion:
    site = await get_site(user, site_id)
    if site.current_version != body.base_version:
        raise Conflict(f"The site is at version {site.current_version}, not {body.base_version}.")
    message_id = None
    if body.message_id is not None:
        message_id = ObjectId(body.message_id)
        if not await message_exists(user, message_id, site.conversation_id):
            raise Unprocessable(
                "`message_id` is not a message of your conversation.", field="body.message_id"
            )
    async with storage.upload_lease(ObjectId(str(user.id))) as lease:
        changes = await _resolve_changes(user, body.changes, manifest_of(site.files), lease)
        return await _commit(
            user,
            site,
            changes,
            description=body.description,
            label=body.label,
            message_id=message_id,
        )


async def list_versions(user: User, site_id: str, params: CursorParams) -> Page[SiteVersion]:
    """Newest first; the cursor carries the last version number of the previous page."""
    site = await sites_of(user).get_or_404(site_id)
    before = site.current_version + 1
    if params.cursor:
        value, _, _ = decode_cursor(params.cursor)
        if not isinstance(value, int):
            raise Unprocessable("The cursor is not one this API issued.", field="query.cursor")
        before = value
    newer_first = [v for v in reversed(site.versions) if v.number < before][: params.limit + 1]
    items = newer_first[: params.limit]
    more = len(newer_first) > params.limit
    return Page(items=items, next_cursor=encode_cursor(items[-1].number, site.id) if more else None)


async def _manifests(user: User, site_id: str, *numbers: int) -> list[Manifest]:
    """The manifests of versions `numbers`, in one read: of the site's card when this process
    has them all (`versions.cached_manifest`; the read proves the site exists and is the
    caller's), else of the history, whose manifests are then kept."""
    scope = sites_of(user)
    oid = parse_object_id(site_id)
    if oid is not None:
        cached = [cached_manifest(oid, number) for number in numbers]
        if all(manifest is not None for manifest in cached):
            await scope.get_or_404(oid, projection_model=SiteCard)
            return cached  # type: ignore[return-value]
    history = await scope.get_or_404(site_id, projection_model=SiteHistory)
    assert oid is not None  # the read found the site by it
    return [
        remember_manifest(oid, number, manifest_of_version(history, number)) for number in numbers
    ]


async def version_manifest(user: User, site_id: str, number: int) -> list[SiteFile]:
    """Sorted by path."""
    if number < 1:  # 0 is the empty site before the first version: diffs only
        await sites_of(user).get_or_404(site_id, projection_model=SiteCard)
        raise NotFound(f"No version {number}.")
    (manifest,) = await _manifests(user, site_id, number)
    return list(manifest.values())


async def diff_versions(user: User, site_id: str, first: int, second: int) -> ManifestDiff:
    before, after = await _manifests(user, site_id, first, second)
    return diff_manifests(before, after)


async def restore_version(
    user: User, site_id: str, number: int, description: str | None
) -> SiteVersion:
    """A new version whose files equal version `number`'s; nothing is rewritten."""
    site = await sites_of(user).get_or_404(site_id)
    target = manifest_of_version(site, number)
    current = manifest_of(site.files)
    changes: list[SiteChange] = []
    for path in sorted(current.keys() | target.keys()):
        now_file, then_file = current.get(path), target.get(path)
        if then_file is None:
            changes.append(SiteChange(path=path, op="delete", prev=_state(now_file)))
        elif now_file is None or now_file.sha256 != then_file.sha256:
            await storage.touch(site.owner_id, then_file.sha256)
            changes.append(
                SiteChange(
                    path=path,
                    op="put",
                    sha256=then_file.sha256,
                    size=then_file.size,
                    content_type=then_file.content_type,
                    prev=_state(now_file),
                )
            )
    return await _commit(
        user,
        site,
        changes,
        description=description or f"Restored version {number}",
        restored_from=number,
    )


async def set_published(user: User, site_id: str, version: int | None, publish: bool) -> Site:
    scope = sites_of(user)
    site = await scope.get_or_404(site_id, projection_model=SiteCard)
    if publish:
        version = existing_version(site, version)
    return await scope.update_or_404(
        site.id,
        {"$set": {"published_version": version if publish else None, "updated_at": utcnow()}},
    )


# --- reading files ---------------------------------------------------------------------------


async def site_file(
    user: User, site_id: str, path: str, version: int | None
) -> tuple[ObjectId, SiteFile]:
    if version is not None:
        (manifest,) = await _manifests(user, site_id, version)
        assert user.id is not None  # the owner of every site the user's scope reads
        return user.id, file_in(manifest, path)
    # The current version's manifest is the site's own file list: no history to read.
    site = await sites_of(user).get_or_404(site_id, projection_model=SiteHead)
    return site.owner_id, file_in(manifest_of(site.files), path)


async def published_file(site_id: str, path: str) -> tuple[ObjectId, SiteFile]:
    """A file of the published version, for anyone: the explicit public read of sites."""
    site = await public(Site).get_or_404(site_id)
    assert site.published_version is not None  # the public scope's rule
    return site.owner_id, file_at(site, site.published_version, path or "index.html")


async def export_version(
    user: User, site_id: str, version: int | None
) -> tuple[int, AsyncIterator[bytes]]:
    site = await sites_of(user).get_or_404(site_id)
    number = site.current_version if version is None else version
    manifest = manifest_of_version(site, number)
    owner = site.owner_id

    async def archive() -> AsyncIterator[bytes]:
        writer = ZipWriter()
        for path in sorted(manifest):
            async for part in writer.add_stream(
                path, storage.open_blob(owner, manifest[path].sha256)
            ):
                yield part
        yield writer.finish()

    return number, archive()

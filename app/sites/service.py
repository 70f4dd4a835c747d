"""Sites and their version history: commits with optimistic concurrency, replay, diff, restore,
publish, public serving and ZIP export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId

from app import storage
from app.auth.scoping import Scope, owned, public
from app.content_types import for_path
from app.conversations.service import message_exists
from app.errors import Conflict, NotFound, Unprocessable
from app.files.service import file_to_reference
from app.links import require_owned_links
from app.pagination import decode_cursor, encode_cursor
from app.settings import Settings
from app.sites.paths import InvalidPath, normalise_path
from app.sites.schemas import ChangeIn, SiteCreate, SitePatch, VersionCreate
from app.zipstream import ZipWriter
from documents.base import utcnow
from documents.site import CHECKPOINT_EVERY, Manifest, Site, manifest_at
from documents.user import User

WITHOUT_HISTORY = {"versions": 0}


def sites_of(user: User | ObjectId) -> Scope[Site]:
    return owned(Site, user)


def site_view(raw: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The fields a client sees, derived from the stored document."""
    published = raw.get("published_version")
    preview = raw.get("preview") or {}
    return {
        **raw,
        "is_published": published is not None,
        "published_url": f"{settings.public_base_url.rstrip('/')}/p/{raw['_id']}/"
        if published is not None
        else None,
        "preview_file_id": preview.get("file_id"),
    }


# --- changes into blobs ----------------------------------------------------------------------


async def _resolve_changes(
    user: User, changes: list[ChangeIn], manifest: Manifest, lease: storage.UploadLease
) -> list[dict[str, Any]]:
    """Store new bytes (deduplicated) and describe each change with what the path held. The
    caller writes the version under `lease`, which holds the new blobs until then."""
    owner = ObjectId(str(user.id))
    resolved = []
    for change in changes:
        prev = manifest.get(change.path)
        prev_state = (
            {k: prev[k] for k in ("sha256", "size", "content_type")} if prev is not None else None
        )
        if change.delete:
            if prev is None:
                raise Unprocessable(
                    f"`{change.path}` does not exist, so it cannot be deleted.",
                    field="body.changes",
                )
            resolved.append({"path": change.path, "op": "delete", "prev": prev_state})
            continue
        if change.file_id is not None:
            handle = await file_to_reference(user, change.file_id, "file_id")
            sha256, size = handle["sha256"], handle["size"]
            content_type = (
                for_path(change.path) if _typed_by_path(change.path) else handle["content_type"]
            )
        else:
            data = change.data() or b""
            if not data:
                raise Unprocessable(f"`{change.path}` would be empty.", field="body.changes")
            blob = await storage.put_bytes(owner, data, lease=lease)
            sha256, size = blob.sha256, blob.size
            content_type = for_path(change.path, blob.head)
        resolved.append(
            {
                "path": change.path,
                "op": "put",
                "sha256": sha256,
                "size": size,
                "content_type": content_type,
                "prev": prev_state,
            }
        )
    return resolved


def _typed_by_path(path: str) -> bool:
    return for_path(path) != "application/octet-stream"


def _apply_changes(manifest: Manifest, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    files = dict(manifest)
    for change in changes:
        if change["op"] == "put":
            files[change["path"]] = {
                k: change[k] for k in ("path", "sha256", "size", "content_type")
            }
        else:
            files.pop(change["path"], None)
    return sorted(files.values(), key=lambda f: f["path"])


# --- sites -----------------------------------------------------------------------------------


async def _preview(user: User, file_id: str | None) -> dict[str, Any] | None:
    if file_id is None:
        return None
    handle = await file_to_reference(user, file_id, "preview_file_id", images_only=True)
    return {"file_id": handle["_id"], "sha256": handle["sha256"]}


async def create_site(user: User, body: SiteCreate) -> dict[str, Any]:
    links = await require_owned_links(
        user, conversation_id=body.conversation_id, project_id=body.project_id
    )
    now = utcnow()
    history: dict[str, Any] = {}
    async with storage.upload_lease(ObjectId(str(user.id))) as lease:
        if body.files:
            changes = await _resolve_changes(user, body.files, {}, lease)
            history = {
                "files": _apply_changes({}, changes),
                "versions": [
                    {"number": 1, "changes": changes, "description": "Created", "created_at": now}
                ],
                "current_version": 1,
            }
        site = sites_of(user).new(
            title=body.title,
            description=body.description,
            theme=body.theme,
            preview=await _preview(user, body.preview_file_id),
            created_at=now,
            updated_at=now,
            **links,
            **history,
        )
        await site.insert()
    return site.model_dump(exclude={"versions"}) | {"_id": site.id}


async def get_site(user: User, site_id: str) -> dict[str, Any]:
    return await sites_of(user).get_raw(site_id, WITHOUT_HISTORY)


async def list_sites(user: User, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    return await sites_of(user).newest_first(
        None, limit=limit, cursor=cursor, projection={"versions": 0, "files": 0, "theme": 0}
    )


async def update_site(user: User, site_id: str, patch: SitePatch) -> dict[str, Any]:
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True, exclude={"preview_file_id"})
    if "preview_file_id" in patch.model_fields_set:
        changes["preview"] = await _preview(user, patch.preview_file_id)
    changes["updated_at"] = utcnow()
    updated = await sites_of(user).find_one_and_update(site_id, {"$set": changes})
    if updated is None:
        raise NotFound("No such site.")
    updated.pop("versions", None)
    return updated


async def delete_site(user: User, site_id: str) -> None:
    """The site goes; its blobs stay while other sites or files use them and are collected by
    `cleanup` after that."""
    if not await sites_of(user).delete_one(site_id):
        raise NotFound("No such site.")


# --- versions --------------------------------------------------------------------------------


async def _commit(
    user: User,
    raw: dict[str, Any],
    base_version: int,
    changes: list[dict[str, Any]],
    *,
    description: str | None,
    label: str | None,
    message_id: ObjectId | None,
    restored_from: int | None = None,
) -> dict[str, Any]:
    """One findAndModify on {_id, owner, current_version: base}: of concurrent commits on one
    base exactly one matches; the others get 409."""
    number = base_version + 1
    now = utcnow()
    manifest = {f["path"]: f for f in raw.get("files", [])}
    files = _apply_changes(manifest, changes)
    version: dict[str, Any] = {
        "number": number,
        "changes": changes,
        "label": label,
        "description": description,
        "message_id": message_id,
        "restored_from": restored_from,
        "created_at": now,
    }
    if number % CHECKPOINT_EVERY == 0:
        version["checkpoint"] = files
    updated = await sites_of(user).find_one_and_update(
        raw["_id"],
        {
            "$set": {"files": files, "current_version": number, "updated_at": now},
            "$push": {"versions": version},
        },
        extra={"current_version": base_version},
    )
    if updated is None:
        current = await sites_of(user).get_raw(raw["_id"], {"current_version": 1})
        raise Conflict(
            f"The site is at version {current['current_version']}, not {base_version}: "
            "fetch it and commit against the current version."
        )
    return version


async def commit_site_version(user: User, site_id: str, body: VersionCreate) -> dict[str, Any]:
    raw = await sites_of(user).get_raw(site_id, WITHOUT_HISTORY)
    if raw["current_version"] != body.base_version:
        raise Conflict(f"The site is at version {raw['current_version']}, not {body.base_version}.")
    message_id = None
    if body.message_id is not None:
        message_id = ObjectId(body.message_id)
        if not await message_exists(user, message_id, raw.get("conversation_id")):
            raise Unprocessable(
                "`message_id` is not a message of your conversation.", field="body.message_id"
            )
    manifest = {f["path"]: f for f in raw.get("files", [])}
    async with storage.upload_lease(ObjectId(str(user.id))) as lease:
        changes = await _resolve_changes(user, body.changes, manifest, lease)
        return await _commit(
            user,
            raw,
            body.base_version,
            changes,
            description=body.description,
            label=body.label,
            message_id=message_id,
        )


async def list_versions(
    user: User, site_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    raw = await sites_of(user).get_raw(site_id, {"versions.checkpoint": 0})
    before = raw["current_version"] + 1
    if cursor:
        value, _ = decode_cursor(cursor)
        if not isinstance(value, int):
            raise Unprocessable("The cursor is not one this API issued.", field="query.cursor")
        before = value
    versions = [v for v in reversed(raw.get("versions", [])) if v["number"] < before][: limit + 1]
    items = [{**v, "changed_paths": [c["path"] for c in v["changes"]]} for v in versions[:limit]]
    next_cursor = encode_cursor(items[-1]["number"], raw["_id"]) if len(versions) > limit else None
    return items, next_cursor


def _manifest(raw: dict[str, Any], number: int) -> Manifest:
    try:
        return manifest_at(raw, number)
    except ValueError as exc:
        raise NotFound(f"No version {number}.") from exc


async def version_manifest(user: User, site_id: str, number: int) -> dict[str, Any]:
    raw = await sites_of(user).get_raw(site_id)
    if number < 1:
        raise NotFound(f"No version {number}.")
    files = sorted(_manifest(raw, number).values(), key=lambda f: f["path"])
    return {"number": number, "files": files}


async def diff_versions(user: User, site_id: str, first: int, second: int) -> dict[str, list[str]]:
    raw = await sites_of(user).get_raw(site_id)
    before, after = _manifest(raw, first), _manifest(raw, second)
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "modified": sorted(
            path
            for path in before.keys() & after.keys()
            if before[path]["sha256"] != after[path]["sha256"]
        ),
    }


async def restore_version(
    user: User, site_id: str, number: int, description: str | None
) -> dict[str, Any]:
    """A new version whose files equal version `number`'s; nothing is rewritten."""
    raw = await sites_of(user).get_raw(site_id)
    target = _manifest(raw, number)
    current = {f["path"]: f for f in raw.get("files", [])}
    changes: list[dict[str, Any]] = []
    for path in sorted(current.keys() | target.keys()):
        now_file, then_file = current.get(path), target.get(path)
        prev = {k: now_file[k] for k in ("sha256", "size", "content_type")} if now_file else None
        if then_file is None:
            changes.append({"path": path, "op": "delete", "prev": prev})
        elif now_file is None or now_file["sha256"] != then_file["sha256"]:
            await storage.touch(ObjectId(str(user.id)), then_file["sha256"])
            changes.append(
                {
                    "path": path,
                    "op": "put",
                    "sha256": then_file["sha256"],
                    "size": then_file["size"],
                    "content_type": then_file["content_type"],
                    "prev": prev,
                }
            )
    return await _commit(
        user,
        raw,
        raw["current_version"],
        changes,
        description=description or f"Restored version {number}",
        label=None,
        message_id=None,
        restored_from=number,
    )


async def set_published(user: User, site_id: str, version: int | None, publish: bool) -> dict:
    raw = await sites_of(user).get_raw(site_id, {"current_version": 1})
    if publish:
        version = version or raw["current_version"]
        if not 1 <= version <= raw["current_version"]:
            raise Unprocessable(
                f"Version {version} does not exist (the site has 1-{raw['current_version']}).",
                field="body.version",
            )
    updated = await sites_of(user).find_one_and_update(
        raw["_id"],
        {"$set": {"published_version": version if publish else None, "updated_at": utcnow()}},
    )
    if updated is None:
        raise NotFound("No such site.")
    updated.pop("versions", None)
    return updated


# --- reading files ---------------------------------------------------------------------------


def _lookup(manifest: Manifest, path: str) -> dict[str, Any]:
    try:
        normalised = normalise_path(path)
    except InvalidPath as exc:
        raise NotFound("No such file in this version.") from exc
    found = manifest.get(normalised)
    if found is None:
        raise NotFound("No such file in this version.")
    return found


async def site_file(
    user: User, site_id: str, path: str, version: int | None
) -> tuple[ObjectId, dict[str, Any]]:
    raw = await sites_of(user).get_raw(site_id)
    manifest = _manifest(raw, raw["current_version"] if version is None else version)
    return raw["owner_id"], _lookup(manifest, path)


async def published_file(site_id: str, path: str) -> tuple[ObjectId, dict[str, Any]]:
    """A file of the published version, for anyone: the explicit public read of sites."""
    raw = await public(Site).get_raw(site_id)
    manifest = _manifest(raw, raw["published_version"])
    return raw["owner_id"], _lookup(manifest, path or "index.html")


async def export_version(
    user: User, site_id: str, version: int | None
) -> tuple[int, AsyncIterator[bytes]]:
    raw = await sites_of(user).get_raw(site_id)
    number = raw["current_version"] if version is None else version
    manifest = _manifest(raw, number)
    owner = raw["owner_id"]

    async def archive() -> AsyncIterator[bytes]:
        writer = ZipWriter()
        for path in sorted(manifest):
            async for part in writer.add_stream(
                path, storage.open_blob(owner, manifest[path]["sha256"])
            ):
                yield part
        yield writer.finish()

    return number, archive()

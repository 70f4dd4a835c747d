"""Generated sites with embedded version history that stores only changes.

`files` is the current manifest. Each version records only its changes: `put` (the path's new
blob) or `delete`, each with what the path held before (`prev`). So version n's manifest is
rebuilt from the one document without reading any other: forward from the nearest checkpoint
below n (the empty site, or a full manifest embedded every `CHECKPOINT_EVERY` versions), or
backward from the current manifest by undoing the newer versions, whichever is fewer steps.
Bytes live in the owner's blob store (`app/storage.py`); a site references them by sha256
(`blob_fields`), so a blob stays while any version of any site uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import OwnedDocument
from documents.folder import Placement, placement_indexes
from documents.trash import Trashable

CHECKPOINT_EVERY = 1000


class SiteFile(BaseModel):
    path: str
    sha256: str
    size: int
    content_type: str


class PathState(BaseModel):
    sha256: str
    size: int
    content_type: str


class SiteChange(BaseModel):
    path: str
    op: Literal["put", "delete"]
    sha256: str | None = None
    size: int | None = None
    content_type: str | None = None
    prev: PathState | None = None  # what the path held before; None when it was absent


class SiteVersion(BaseModel):
    number: int
    changes: list[SiteChange]
    label: str | None = None
    description: str | None = None
    message_id: PydanticObjectId | None = None
    restored_from: int | None = None
    created_at: datetime
    checkpoint: list[SiteFile] | None = None


class SitePreview(BaseModel):
    file_id: PydanticObjectId
    sha256: str


class Site(OwnedDocument, Trashable, Placement):
    noun = "site"
    title: str
    description: str | None = None
    conversation_id: PydanticObjectId | None = None
    project_id: PydanticObjectId | None = None
    theme: dict[str, Any] | None = None
    files: list[SiteFile] = Field(default_factory=list)
    current_version: int = 0
    versions: list[SiteVersion] = Field(default_factory=list)
    published_version: int | None = None
    preview: SitePreview | None = None

    # Published sites are served to anyone at /p/{id}/ (never through the owner's API).
    public_when: ClassVar[dict[str, Any] | None] = {"published_version": {"$ne": None}}
    blob_fields: ClassVar[tuple[str, ...]] = (
        "files.sha256",
        "versions.changes.sha256",
        "versions.changes.prev.sha256",
        "versions.checkpoint.sha256",
        "preview.sha256",
    )

    class Settings:
        name = "sites"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc"),
            *placement_indexes("_id"),
        ]


class SiteCard(Placement):
    """Projection: a site without its history, manifest or theme, for lists."""

    id: PydanticObjectId = Field(alias="_id")
    owner_id: PydanticObjectId
    title: str
    description: str | None = None
    conversation_id: PydanticObjectId | None = None
    project_id: PydanticObjectId | None = None
    current_version: int = 0
    published_version: int | None = None
    preview: SitePreview | None = None
    keep: bool = False
    created_at: datetime
    updated_at: datetime

    class Settings:
        projection = {"versions": 0, "files": 0, "theme": 0}


class SiteHead(SiteCard):
    """Projection: a site with its current manifest and theme, without its history."""

    theme: dict[str, Any] | None = None
    files: list[SiteFile] = Field(default_factory=list)

    class Settings:
        projection = {"versions": 0}


class SiteHistory(BaseModel):
    """What replaying versions reads: the current manifest and the versions."""

    current_version: int = 0
    files: list[SiteFile] = Field(default_factory=list)
    versions: list[SiteVersion] = Field(default_factory=list)


Manifest = dict[str, SiteFile]


def manifest_of(files: list[SiteFile]) -> Manifest:
    return {f.path: f for f in files}


def _apply(manifest: Manifest, change: SiteChange) -> None:
    if change.op == "put":
        assert change.sha256 is not None and change.size is not None
        manifest[change.path] = SiteFile(
            path=change.path,
            sha256=change.sha256,
            size=change.size,
            content_type=change.content_type or "application/octet-stream",
        )
    else:
        manifest.pop(change.path, None)


def _undo(manifest: Manifest, change: SiteChange) -> None:
    if change.prev is None:
        manifest.pop(change.path, None)
    else:
        manifest[change.path] = SiteFile(path=change.path, **change.prev.model_dump())


def apply_changes(manifest: Manifest, changes: list[SiteChange]) -> list[SiteFile]:
    """The manifest after `changes`, as the sorted file list a site stores."""
    files = dict(manifest)
    for change in changes:
        _apply(files, change)
    return sorted(files.values(), key=lambda f: f.path)


def manifest_at(site: SiteHistory | Site, number: int) -> Manifest:
    """The files of version `number` (0 = the empty site)."""
    current = site.current_version
    if not 0 <= number <= current:
        raise ValueError(f"no version {number}")
    versions = site.versions  # versions[i] is number i + 1
    if number == current:
        return manifest_of(site.files)
    base, manifest = 0, {}
    for version in reversed(versions[:number]):
        if version.checkpoint is not None:
            base = version.number
            manifest = manifest_of(version.checkpoint)
            break
    # Fewer changes to replay wins, not fewer versions: a site's first version usually adds
    # every file, so replaying it forward costs hundreds of steps where undoing a few later
    # versions costs a handful.
    forward = sum(len(version.changes) for version in versions[base:number])
    backward = sum(len(version.changes) for version in versions[number:current])
    if forward <= backward:
        for version in versions[base:number]:
            for change in version.changes:
                _apply(manifest, change)
        return manifest
    manifest = manifest_of(site.files)
    for version in reversed(versions[number:current]):
        for change in reversed(version.changes):
            _undo(manifest, change)
    return manifest


class ManifestDiff(BaseModel):
    added: list[str]
    removed: list[str]
    modified: list[str]


def diff_manifests(before: Manifest, after: Manifest) -> ManifestDiff:
    return ManifestDiff(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        modified=sorted(
            path
            for path in before.keys() & after.keys()
            if before[path].sha256 != after[path].sha256
        ),
    )

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.folders.schemas import PlacementIn, PlacementRead
from app.schemas import IdStr, JsonObject, Keep, ObjectIdIn, ResourceRead, StrictInput
from app.settings import Settings
from app.sites.paths import InvalidPath, normalise_path
from documents.site import Site, SiteCard

MAX_CHANGES = 500
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class ChangeIn(StrictInput):
    """One of `content` (UTF-8 text), `content_base64`, `file_id` (one of your files) or
    `delete: true`, for one path."""

    path: Annotated[str, StringConstraints(max_length=1024)]
    content: str | None = None
    content_base64: str | None = None
    file_id: ObjectIdIn | None = None
    delete: bool | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        try:
            return normalise_path(value)
        except InvalidPath as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("content")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("text content must not contain NUL; send it as content_base64")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ChangeIn:
        given = [
            self.content is not None,
            self.content_base64 is not None,
            self.file_id is not None,
            bool(self.delete),
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one of content, content_base64, file_id, delete: true")
        if self.delete is False:
            raise ValueError("`delete` can only be true")
        if self.content_base64 is not None:
            try:
                base64.b64decode(self.content_base64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("content_base64 is not valid base64") from exc
        return self

    def data(self) -> bytes | None:
        if self.content is not None:
            return self.content.encode()
        if self.content_base64 is not None:
            return base64.b64decode(self.content_base64)
        return None


Changes = Annotated[list[ChangeIn], Field(max_length=MAX_CHANGES)]


def _one_change_per_path(changes: list[ChangeIn]) -> list[ChangeIn]:
    seen: set[str] = set()
    for change in changes:
        if change.path in seen:
            raise ValueError(f"more than one change for {change.path}")
        seen.add(change.path)
    return changes


class SiteCreate(StrictInput):
    title: Title
    description: Description | None = None
    conversation_id: ObjectIdIn | None = None
    project_id: ObjectIdIn | None = None
    theme: JsonObject | None = None
    preview_file_id: ObjectIdIn | None = None
    files: Changes | None = None

    @field_validator("files")
    @classmethod
    def _unique_paths(cls, changes: list[ChangeIn] | None) -> list[ChangeIn] | None:
        return _one_change_per_path(changes) if changes else changes


class SitePatch(PlacementIn):
    not_null = ("title", "keep", "tags", "pinned")
    keep: Keep = None
    title: Title | None = None
    description: Description | None = None
    theme: JsonObject | None = None
    preview_file_id: ObjectIdIn | None = None


class VersionCreate(StrictInput):
    base_version: Annotated[int, Field(ge=0)]
    description: Description | None = None
    label: Label | None = None
    message_id: ObjectIdIn | None = None
    changes: Annotated[list[ChangeIn], Field(min_length=1, max_length=MAX_CHANGES)]

    @field_validator("changes")
    @classmethod
    def _unique_paths(cls, changes: list[ChangeIn]) -> list[ChangeIn]:
        return _one_change_per_path(changes)


class RestoreRequest(StrictInput):
    version: Annotated[int, Field(ge=1)]
    description: Description | None = None


class PublishRequest(StrictInput):
    version: Annotated[int, Field(ge=1)] | None = None


class SiteFileRead(BaseModel):
    # Read from the stored files' attributes: a manifest is hundreds of them, copied once.
    model_config = ConfigDict(from_attributes=True)

    path: str
    size: int
    sha256: str
    content_type: str


class SiteSummary(ResourceRead, PlacementRead):
    title: str
    description: str | None
    conversation_id: IdStr | None
    project_id: IdStr | None
    current_version: int
    is_published: bool
    published_version: int | None
    published_url: str | None
    preview_file_id: IdStr | None
    keep: bool = False

    @classmethod
    def of(cls, site: SiteCard | Site, settings: Settings) -> Self:
        """What a client sees of a site: where it is published, its preview image."""
        published = site.published_version is not None
        base = settings.public_base_url.rstrip("/")
        return cls.model_validate(
            {
                **site.model_dump(),
                "id": site.id,
                "is_published": published,
                "published_url": f"{base}/p/{site.id}/" if published else None,
                "preview_file_id": site.preview.file_id if site.preview else None,
            }
        )


class SiteRead(SiteSummary):
    theme: dict[str, Any] | None
    files: list[SiteFileRead]


class ChangeRead(BaseModel):
    path: str
    op: str


class VersionRead(BaseModel):
    number: int
    description: str | None = None
    label: str | None = None
    message_id: IdStr | None = None
    restored_from: int | None = None
    changes: list[ChangeRead]
    created_at: datetime


class VersionSummary(BaseModel):
    number: int
    description: str | None = None
    label: str | None = None
    message_id: IdStr | None = None
    restored_from: int | None = None
    created_at: datetime
    changed_paths: list[str]

    @model_validator(mode="before")
    @classmethod
    def _changed_paths(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            data = data.model_dump()
        if isinstance(data, dict) and "changed_paths" not in data:
            return {**data, "changed_paths": [c["path"] for c in data.get("changes", [])]}
        return data


class VersionManifest(BaseModel):
    number: int
    files: list[SiteFileRead]


class SiteDiff(BaseModel):
    added: list[str]
    removed: list[str]
    modified: list[str]

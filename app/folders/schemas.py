from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from app.schemas import IdStr, ObjectIdIn, ResourceRead, StrictInput
from app.tags.schemas import TagName, Tags
from documents.folder import MAX_FOLDER_DEPTH

FolderName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
SearchText = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SmartQueryIn(StrictInput):
    q: SearchText | None = None
    tag: TagName | None = None
    kind: Literal["conversations", "messages", "sites", "files"] | None = None

    @model_validator(mode="after")
    def _something_to_match(self) -> Any:
        if self.q is None and self.tag is None:
            raise ValueError("a smart folder needs `q` or `tag`")
        if self.kind == "messages" and self.q is None:
            raise ValueError("messages are matched by `q`")
        return self


class FolderCreate(StrictInput):
    name: FolderName
    parent_id: ObjectIdIn | None = None
    query: SmartQueryIn | None = Field(
        default=None, description="A smart folder: its items are this search's matches, live"
    )


class FolderPatch(StrictInput):
    not_null = ("name",)
    name: FolderName | None = None
    parent_id: ObjectIdIn | None = Field(default=None, description="null moves it to the top")


class FolderCounts(BaseModel):
    conversations: int = 0
    sites: int = 0
    files: int = 0


class SmartQueryRead(BaseModel):
    q: str | None = None
    tag: str | None = None
    kind: str | None = None


class FolderRead(ResourceRead):
    name: str
    parent_id: IdStr | None
    depth: int = Field(description=f"1 for a top folder, at most {MAX_FOLDER_DEPTH}")
    query: SmartQueryRead | None = None
    counts: FolderCounts = Field(
        description="Items directly in it (a smart folder's matches are in its items' `count`)"
    )


class FolderTree(BaseModel):
    items: list[FolderRead] = Field(description="Depth first: each folder before its children")


# --- what organisable items accept and show ------------------------------------------------


class PlacementIn(StrictInput):
    """Where an item is filed: mixed into the PATCH bodies of conversations, sites and files."""

    folder_id: ObjectIdIn | None = Field(default=None, description="null takes it out")
    tags: Tags | None = Field(default=None, description="Replaces its tags (at most 20)")
    pinned: StrictBool | None = Field(default=None, description="Pinned items come first in lists")


def _pinned(value: Any) -> bool:
    return bool(value)


class PlacementRead(BaseModel):
    folder_id: IdStr | None = None
    tags: list[str] = Field(default_factory=list)
    pinned: Annotated[bool, BeforeValidator(_pinned)] = False

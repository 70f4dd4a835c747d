"""Where an item is filed — its folder, tags and pin — for the three kinds a folder holds.

Every organisable kind (`ITEMS`) goes through here: a PATCH's placement fields become one
`$set` (`placement_changes`), a list's `folder_id`/`tag`/`pinned` filters one condition
(`placement_filter`), and the counts a folder tree and the tag list show are computed from the
items by two small pipelines, so they are exact whatever raced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from app.auth.scoping import Scope, owned, parse_object_id
from app.errors import Unprocessable
from app.folders.schemas import PlacementIn
from app.schemas import ObjectIdIn
from app.tags.schemas import TagName
from documents.base import OwnedDocument
from documents.conversation import Conversation
from documents.file import StoredFile
from documents.folder import Folder, ItemKind
from documents.site import Site
from documents.user import User

PLACEMENT_FIELDS = frozenset(PlacementIn.model_fields)


@dataclass(frozen=True)
class ItemKindInfo:
    model: type[OwnedDocument]
    title_field: str
    recency_field: str  # what "newest" means for it
    extra: dict[str, Any]  # what its list hides besides the trash


ITEMS: dict[ItemKind, ItemKindInfo] = {
    "conversations": ItemKindInfo(
        Conversation, "title", "activity_at", {"temporary": {"$ne": True}}
    ),
    "sites": ItemKindInfo(Site, "title", "updated_at", {}),
    "files": ItemKindInfo(StoredFile, "filename", "created_at", {}),
}

COUNT_BY_FOLDER: list[dict[str, Any]] = [
    {"$match": {"folder_id": {"$ne": None}}},
    {"$group": {"_id": "$folder_id", "count": {"$sum": 1}}},
]
COUNT_BY_TAG: list[dict[str, Any]] = [
    {"$match": {"tags.0": {"$exists": True}}},
    {"$unwind": "$tags"},
    {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
]


def items_of(kind: ItemKind, user: User, *, trash: Any = "hide") -> Scope[Any]:
    return owned(ITEMS[kind].model, user, trash=trash)


async def placement_changes(user: User, patch: PlacementIn) -> dict[str, Any]:
    """The `$set` of a PATCH's placement fields. A folder must be one of the caller's plain
    folders (422 otherwise, as for any link); unpinning stores null (`documents/folder.py`)."""
    changes: dict[str, Any] = {}
    fields = patch.model_fields_set & PLACEMENT_FIELDS
    if "folder_id" in fields:
        changes["folder_id"] = await _plain_folder(user, patch.folder_id)
    if "tags" in fields:
        changes["tags"] = patch.tags or []
    if "pinned" in fields:
        changes["pinned"] = True if patch.pinned else None
    return changes


async def _plain_folder(user: User, folder_id: str | None) -> Any:
    if folder_id is None:
        return None
    oid = parse_object_id(folder_id)
    folder = None if oid is None else await owned(Folder, user).find_one({"_id": oid})
    if folder is None:
        raise Unprocessable(
            "`folder_id` does not name one of your folders.", field="body.folder_id"
        )
    if folder.query is not None:
        raise Unprocessable(
            "A smart folder lists a search's matches: items cannot be put in it.",
            field="body.folder_id",
        )
    return folder.id


def placement_filter(
    *, folder_id: str | None = None, tag: str | None = None, pinned: bool | None = None
) -> dict[str, Any]:
    """A list's placement filters as one condition ({} when there are none)."""
    conditions: dict[str, Any] = {}
    if folder_id is not None:
        conditions["folder_id"] = parse_object_id(folder_id)
    if tag is not None:
        conditions["tags"] = tag
    if pinned is not None:
        conditions["pinned"] = True if pinned else None
    return conditions


async def _placement_query(
    folder_id: Annotated[
        ObjectIdIn | None, Query(description="Only the items in that folder")
    ] = None,
    tag: Annotated[TagName | None, Query(description="Only the items with this tag")] = None,
    pinned: Annotated[bool | None, Query(description="Only pinned (or unpinned) items")] = None,
) -> dict[str, Any]:
    return placement_filter(folder_id=folder_id, tag=tag, pinned=pinned)


# A list's `folder_id`, `tag` and `pinned` query parameters, as one filter.
PlacementQuery = Annotated[dict[str, Any], Depends(_placement_query)]


async def count_by_folder(user: User) -> dict[Any, dict[str, int]]:
    """Folder id → {kind: items directly in it}, for every folder that holds something."""
    counts: dict[Any, dict[str, int]] = {}
    for kind in ITEMS:
        scope = items_of(kind, user)
        pipeline = [scope.match(ITEMS[kind].extra or None), *COUNT_BY_FOLDER]
        for row in await scope.model.aggregate(pipeline).to_list():
            counts.setdefault(row["_id"], {})[kind] = int(row["count"])
    return counts


async def count_by_tag(user: User) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in ITEMS:
        scope = items_of(kind, user)
        pipeline = [scope.match(ITEMS[kind].extra or None), *COUNT_BY_TAG]
        for row in await scope.model.aggregate(pipeline).to_list():
            counts[row["_id"]] = counts.get(row["_id"], 0) + int(row["count"])
    return counts

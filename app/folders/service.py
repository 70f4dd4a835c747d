"""Folders: a tree of at most 8 levels (no cycles) that files conversations, sites and files
together, and smart folders whose items are a saved search's matches.

Counts are computed from the items (`placement.count_by_folder`) rather than kept in the folder
documents: a move is then one update of the item, and no crash or race between two writes can
leave a count wrong. Deleting a folder moves what it holds — items and sub-folders, trashed
items too — to its parent, so nothing is lost.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope, owned, parse_object_id
from app.errors import Conflict, Unprocessable
from app.folders.placement import ITEMS, count_by_folder, items_of
from app.folders.schemas import FolderCounts, FolderCreate, FolderPatch, FolderRead, FolderTree
from app.pagination import CursorParams, after_cursor, encode_cursor
from app.search import candidates
from app.search import service as search
from app.search.hits import HIT_KINDS
from app.search.schemas import Hit, HitPage
from documents.base import utcnow
from documents.folder import MAX_FOLDER_DEPTH, MAX_FOLDERS, Folder, SmartQuery
from documents.user import User


def folders_of(user: User) -> Scope[Folder]:
    return owned(Folder, user)


async def _all(user: User) -> dict[ObjectId, Folder]:
    return {f.id: f async for f in folders_of(user).find()}  # type: ignore[misc]


def _depth(folders: dict[ObjectId, Folder], folder_id: ObjectId | None) -> int:
    """Levels from the top down to `folder_id` (0 for the top itself)."""
    return len(_ancestors(folders, folder_id))


def _height(folders: dict[ObjectId, Folder], folder_id: ObjectId) -> int:
    """Levels of the subtree under `folder_id`, itself included."""
    children = [f.id for f in folders.values() if f.parent_id == folder_id]
    return 1 + max((_height(folders, c) for c in children), default=0)


def _ancestors(folders: dict[ObjectId, Folder], folder_id: ObjectId | None) -> list[ObjectId]:
    """`folder_id` and the folders above it, up to the top or to the first one seen twice."""
    found: list[ObjectId] = []
    while folder_id is not None and folder_id in folders and folder_id not in found:
        found.append(folder_id)
        folder_id = folders[folder_id].parent_id
    return found


def _parent(folders: dict[ObjectId, Folder], parent_id: str | None) -> Any:
    if parent_id is None:
        return None
    oid = parse_object_id(parent_id)
    if oid is None or oid not in folders:
        raise Unprocessable(
            "`parent_id` does not name one of your folders.", field="body.parent_id"
        )
    if folders[oid].query is not None:
        raise Conflict("A smart folder cannot hold folders.")
    return oid


async def create_folder(user: User, body: FolderCreate) -> FolderRead:
    folders = await _all(user)
    if len(folders) >= MAX_FOLDERS:
        raise Conflict(f"You have {MAX_FOLDERS} folders, the most an account can have.")
    parent = _parent(folders, body.parent_id)
    if _depth(folders, parent) + 1 > MAX_FOLDER_DEPTH:
        raise Conflict(f"Folders nest at most {MAX_FOLDER_DEPTH} levels deep.")
    query = SmartQuery.model_validate(body.query.model_dump()) if body.query else None
    folder = folders_of(user).new(name=body.name, parent_id=parent, query=query)
    await folder.insert()
    folders[folder.id] = folder  # type: ignore[index]
    return _read(folder, folders, {})


async def list_folders(user: User) -> FolderTree:
    folders = await _all(user)
    counts = await count_by_folder(user)
    ordered: list[FolderRead] = []

    def visit(parent: ObjectId | None) -> None:
        for folder in sorted(
            (f for f in folders.values() if f.parent_id == parent), key=lambda f: f.name.casefold()
        ):
            ordered.append(_read(folder, folders, counts))
            visit(folder.id)

    visit(None)
    return FolderTree(items=ordered)


async def get_folder(user: User, folder_id: str) -> FolderRead:
    folder = await folders_of(user).get_or_404(folder_id)
    folders = await _all(user)
    return _read(folder, folders, await count_by_folder(user))


def _read(
    folder: Folder, folders: dict[ObjectId, Folder], counts: dict[Any, dict[str, int]]
) -> FolderRead:
    return FolderRead.model_validate(
        {
            **folder.model_dump(),
            "id": folder.id,
            "depth": _depth(folders, folder.id),
            "counts": FolderCounts(**counts.get(folder.id, {})),
        }
    )


async def update_folder(user: User, folder_id: str, patch: FolderPatch) -> FolderRead:
    scope = folders_of(user)
    folder = await scope.get_or_404(folder_id)
    changes: dict[str, Any] = {"updated_at": utcnow()}
    if patch.name is not None:
        changes["name"] = patch.name
    if "parent_id" in patch.model_fields_set:
        folders = await _all(user)
        parent = _parent(folders, patch.parent_id)
        if parent is not None and folder.id in _ancestors(folders, parent):
            raise Conflict("A folder cannot move into itself or one of its sub-folders.")
        if _depth(folders, parent) + _height(folders, folder.id) > MAX_FOLDER_DEPTH:
            raise Conflict(f"Folders nest at most {MAX_FOLDER_DEPTH} levels deep.")
        changes["parent_id"] = parent
    await scope.update_or_404(folder.id, {"$set": changes})
    folders = await _all(user)
    if "parent_id" in changes and _in_cycle(folders, folder.id):
        # Another move raced this one into a loop: undo ours (the other stands or undoes too).
        await scope.update(folder.id, {"$set": {"parent_id": folder.parent_id}})
        raise Conflict("Another move of these folders happened at the same time; try again.")
    return _read(folders[folder.id], folders, await count_by_folder(user))  # type: ignore[index]


def _in_cycle(folders: dict[ObjectId, Folder], folder_id: ObjectId) -> bool:
    """Whether the walk up from `folder_id` stopped at a folder it had already seen."""
    chain = _ancestors(folders, folder_id)
    return bool(chain) and folders[chain[-1]].parent_id in chain


async def delete_folder(user: User, folder_id: str) -> None:
    """Its items and sub-folders go to its parent; then it goes. The items are moved again
    after the delete, for a move into it that raced the delete."""
    scope = folders_of(user)
    folder = await scope.get_or_404(folder_id)
    await _empty_into_parent(user, folder)
    await scope.delete_or_404(folder.id)
    await _empty_into_parent(user, folder)


async def _empty_into_parent(user: User, folder: Folder) -> None:
    now = utcnow()
    await folders_of(user).update_many(
        {"parent_id": folder.id}, {"$set": {"parent_id": folder.parent_id, "updated_at": now}}
    )
    for kind in ITEMS:
        await items_of(kind, user, trash="include").update_many(
            {"folder_id": folder.id}, {"$set": {"folder_id": folder.parent_id}}
        )


# --- items -------------------------------------------------------------------------------------


async def folder_items(
    user: User, folder_id: str, params: CursorParams, *, kind: str | None = None
) -> HitPage:
    """A folder's items of every kind (or `kind`), pinned first then newest; a smart folder's
    matches, live."""
    folder = await folders_of(user).get_or_404(folder_id)
    if folder.query is not None:
        return await _smart_items(user, folder.query, params, kind)
    return await _items_where(user, {"folder_id": folder.id}, params, kind)


async def _smart_items(
    user: User, query: SmartQuery, params: CursorParams, kind: str | None
) -> HitPage:
    kind = kind or query.kind
    if query.q is not None:
        return await search.search(user, query.q, params, kind=kind, tag=query.tag)
    if kind == "messages":
        return HitPage(items=[], count=0)
    return await _items_where(user, {"tags": query.tag}, params, kind)


async def _items_where(
    user: User, where: dict[str, Any], params: CursorParams, kind: str | None
) -> HitPage:
    """One page merged from each kind's page (pinned first, then by id, newest first): the
    cursor is the last item's (pinned, id), which orders items of every kind alike."""
    rows: list[tuple[str, dict[str, Any]]] = []
    count = 0
    after = after_cursor("_id", params.cursor, pinned_first=True)
    for item_kind, info in ITEMS.items():
        if kind not in (None, item_kind):
            continue
        scope = items_of(item_kind, user)
        extra = {**where, **info.extra}
        count += await scope.count(extra)
        conditions = [extra, after] if after else [extra]
        listed = await candidates.listed(
            scope, info.title_field, {"$and": conditions}, params.limit + 1
        )
        rows.extend((item_kind, row) for row in listed)
    rows.sort(key=lambda r: (bool(r[1].get("pinned")), r[1]["_id"]), reverse=True)
    page = rows[: params.limit]
    items = [_item_hit(item_kind, row) for item_kind, row in page]
    next_cursor = None
    if len(rows) > params.limit and page:
        last = page[-1][1]
        next_cursor = encode_cursor(str(last["_id"]), last["_id"], bool(last.get("pinned")))
    return HitPage(items=items, next_cursor=next_cursor, count=count)


def _item_hit(kind: str, row: dict[str, Any]) -> Hit:
    info = ITEMS[kind]  # type: ignore[index]
    return Hit.model_validate(
        {
            "kind": HIT_KINDS[kind],  # type: ignore[index]
            "id": row["_id"],
            "title": row.get(info.title_field),
            "created_at": row["created_at"],
            "updated_at": row.get("updated_at"),
            "folder_id": row.get("folder_id"),
            "tags": row.get("tags") or [],
            "pinned": bool(row.get("pinned")),
        }
    )

"""Tags across conversations, sites and files: the list with exact counts (computed from the
items), and renames and deletes that reach every item in one request.

A rename adds the new name to every item with the old one, then takes the old one away (two
updates per kind, each one command): an item that had both ends with one, and a failure in
between leaves items with both names, never without the tag — running the rename again
finishes it. Trashed items are renamed too, so a restore brings back the current name.
"""

from __future__ import annotations

from app.errors import NotFound
from app.folders.placement import ITEMS, count_by_tag, items_of
from app.tags.schemas import TagChange, TagCount, TagList
from documents.user import User


async def list_tags(user: User) -> TagList:
    counts = await count_by_tag(user)
    return TagList(items=[TagCount(name=n, count=c) for n, c in sorted(counts.items())])


async def rename_tag(user: User, name: str, new_name: str) -> TagChange:
    changed = 0
    if new_name == name:
        return TagChange(changed=await _require(user, name))
    for kind in ITEMS:
        scope = items_of(kind, user, trash="include")
        changed += await scope.update_many({"tags": name}, {"$addToSet": {"tags": new_name}})
        await scope.update_many({"tags": name}, {"$pull": {"tags": name}})
    if changed == 0:
        raise NotFound("No item has that tag.")
    return TagChange(changed=changed)


async def delete_tag(user: User, name: str) -> TagChange:
    changed = 0
    for kind in ITEMS:
        scope = items_of(kind, user, trash="include")
        changed += await scope.update_many({"tags": name}, {"$pull": {"tags": name}})
    if changed == 0:
        raise NotFound("No item has that tag.")
    return TagChange(changed=changed)


async def _require(user: User, name: str) -> int:
    found = sum([await items_of(kind, user).count({"tags": name}) for kind in ITEMS])
    if found == 0:
        raise NotFound("No item has that tag.")
    return found

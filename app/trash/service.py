"""The trash: what a delete moved aside, listed across kinds, restored as it was, or purged.

A trashed document keeps everything it had and gains `trashed_at`; every scope hides it
(`app.auth.scoping`), so it is gone from every list, get, search, share and public page without
any of them knowing about the trash. Purging deletes the document, then what goes with it (each
area's `purge_*`: archives, shares, blob references); the blob store collects the bytes that
nothing references any more. Items are purged `TRASH_DAYS` after they were deleted, by `cleanup`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from app.auth.scoping import owned, parse_object_id
from app.conversations.service import purge_conversation
from app.drawings.service import purge_drawing
from app.errors import NotFound
from app.files.service import purge_file
from app.lifecycle import service as lifecycle
from app.pagination import CursorParams, Page, page_of
from app.projects.service import purge_project
from app.settings import Settings
from app.sites.service import purge_site
from app.stories.service import purge_story
from app.trash.moves import purge_one
from app.trash.schemas import TrashItemRead, TrashKind
from app.workflows.service import purge_workflow
from documents.base import OwnedDocument
from documents.conversation import Conversation
from documents.drawing import Drawing
from documents.file import StoredFile
from documents.project import Project
from documents.site import Site
from documents.story import Story
from documents.trash import TrashedCard
from documents.user import User
from documents.workflow import Workflow


@dataclass(frozen=True)
class Kind:
    name: TrashKind
    model: type[OwnedDocument]
    # What goes with a document once it is deleted (idempotent: expiry may race a purge).
    purge: Callable[[ObjectId, ObjectId], Awaitable[None]]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("conversation", Conversation, purge_conversation),
        Kind("site", Site, purge_site),
        Kind("file", StoredFile, purge_file),
        Kind("drawing", Drawing, purge_drawing),
        Kind("story", Story, purge_story),
        Kind("workflow", Workflow, purge_workflow),
        Kind("project", Project, purge_project),
    )
}


def _kinds(kind: TrashKind | None) -> list[Kind]:
    return [KINDS[kind]] if kind is not None else list(KINDS.values())


def _item(kind: Kind, card: TrashedCard, settings: Settings) -> TrashItemRead:
    return TrashItemRead(
        kind=kind.name,
        id=str(card.id),
        title=card.label(),
        deleted_at=card.trashed_at,
        purge_at=card.trashed_at + timedelta(days=settings.trash_days),
        bytes=card.bytes(),
    )


async def list_trash(
    user: User, params: CursorParams, settings: Settings, *, kind: TrashKind | None = None
) -> Page[TrashItemRead]:
    """Newest deletion first, across kinds: each kind's next page after the same cursor,
    merged, is the page."""
    found: list[tuple[Kind, TrashedCard]] = []
    for each in _kinds(kind):
        page = await owned(each.model, user, trash="only").list_page(
            params, sort_field="trashed_at", projection_model=TrashedCard
        )
        found.extend((each, card) for card in page.items)
    found.sort(key=lambda pair: (pair[1].trashed_at, pair[1].id), reverse=True)
    cards = page_of([card for _, card in found[: params.limit + 1]], params.limit, "trashed_at")
    kinds = {card.id: each for each, card in found}
    return Page(
        items=[_item(kinds[card.id], card, settings) for card in cards.items],
        next_cursor=cards.next_cursor,
    )


async def restore(user: User, item_id: str, settings: Settings) -> TrashItemRead:
    """Back exactly as it was (its shares work again unless revoked or expired meanwhile)."""
    kind, card = await _find(user, item_id)
    scope = owned(kind.model, user, trash="only")
    if not await scope.update_one(card.id, {"$set": {"trashed_at": None}}):
        raise NotFound("Nothing with this id is in your trash.")  # restored or purged meanwhile
    return _item(kind, card, settings)


async def purge(user: User, item_id: str) -> None:
    kind, card = await _find(user, item_id)
    await lifecycle.refuse_if_held(user, "purging the trash")
    if not await purge_one(owned(kind.model, user, trash="only"), card.id, kind.purge):
        raise NotFound("Nothing with this id is in your trash.")  # purged meanwhile
    await lifecycle.record("trash.purge", actor=user, user=user, kind=kind.name, id=card.id)


async def empty(user: User) -> int:
    """Purge everything in the caller's trash; how many items went."""
    await lifecycle.refuse_if_held(user, "emptying the trash")
    purged = 0
    for kind in KINDS.values():
        scope = owned(kind.model, user, trash="only")
        for oid in await scope.distinct("_id"):
            purged += await purge_one(scope, oid, kind.purge)
    await lifecycle.record("trash.empty", actor=user, user=user, purged=purged)
    return purged


async def _find(user: User, item_id: str) -> tuple[Kind, TrashedCard]:
    oid = parse_object_id(item_id)
    if oid is not None:
        for kind in KINDS.values():
            card = await owned(kind.model, user, trash="only").find_one(
                {"_id": oid}, projection_model=TrashedCard
            )
            if card is not None:
                return kind, card
    raise NotFound("Nothing with this id is in your trash.")


@dataclass
class Expired:
    purged: int = 0
    held: int = 0  # due, but their owner is under a legal hold


async def expire_trash(
    now: datetime, keep: timedelta, *, held: set[ObjectId], dry_run: bool = False
) -> Expired:
    """Purge what has been in any owner's trash for longer than `keep` (`TRASH_DAYS`): a sweep
    by date across owners (README "Scaling"), skipping the `held` owners (under a legal hold).
    Each item is deleted by one guarded delete, so two processes running it purge each item
    once."""
    cutoff = now - keep
    due = {"trashed_at": {"$ne": None, "$lt": cutoff}}
    done = Expired()
    for kind in KINDS.values():
        for card in await kind.model.find(due, projection_model=TrashedCard).to_list():
            owner = ObjectId(str(card.owner_id))
            if owner in held:
                done.held += 1
            elif dry_run:
                done.purged += 1
            else:
                scope = owned(kind.model, owner, trash="only")
                guard = {"trashed_at": {"$lt": cutoff}}
                done.purged += await purge_one(scope, card.id, kind.purge, guard)
    if done.purged and not dry_run:
        await lifecycle.record("trash.expire", actor=None, user=None, purged=done.purged)
    return done

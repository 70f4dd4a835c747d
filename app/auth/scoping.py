"""Owner scoping: the one way to read or write an owned collection.

    conversations = owned(Conversation, user)
    conversation = await conversations.get_or_404(conversation_id)  # someone else's id → 404
    page = await conversations.list_page(params, extra={"archived": False})
    await conversations.update_or_404(conversation_id, {"$set": {"title": "New"}})

Every filter a scope builds starts with `owner_id`, so no route, job or report can forget it,
and on a cluster sharded by owner every query it sends is routed to one shard. A model that
declares `public_when` can also be read through `readable(Model, user)` (the owner's documents
plus the public ones) or `public(Model)` (only the public ones, for anonymous readers); both
scopes refuse to write.

Reads and writes come back as documents (or projections of them); each write is one command,
retried under the engine's policy for transient answers (`app/engine/`). A single-document read
and the plain updates go through the raw driver (`read_one`, `update_one`): Beanie's query
objects re-encode every filter and update and work out the projection on each call, the
largest share of a small request's own work, and its result for our models is the model's
own validation of the same data. The raw driver's collection stays reachable as `collection`
for the module that needs what Beanie cannot say (the message-window engine,
`app/conversations/window.py`); it still takes its filters from `filter()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar, overload

from beanie import Document, PydanticObjectId, UpdateResponse
from beanie.odm.queries.find import FindMany
from beanie.odm.utils.projection import get_projection
from bson import ObjectId
from bson.errors import InvalidId
from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from app.engine import increment_within_total, retrying
from app.errors import NotFound
from app.pagination import CursorParams, Page, after_cursor, page_of, sort_order
from documents.base import OwnedDocument
from documents.user import User

D = TypeVar("D", bound=OwnedDocument)
P = TypeVar("P", bound=BaseModel)
DocumentT = TypeVar("DocumentT", bound=Document)
TrashView = Literal["hide", "include", "only"]


_PROJECTIONS: dict[type[BaseModel], dict[str, int] | None] = {}


async def read_one(
    model: type[Document], filter_: dict[str, Any], projection_model: type[BaseModel] | None = None
) -> Any:
    """One document (or its projection) by a filter, as Beanie's `find_one` reads it: the same
    command (the model's projection, worked out once per model) and the same parse (the
    model's validation: our documents have no inheritance, links or state management), without
    its query object (~80 µs of a ~500 µs `/users/me` in process)."""
    target = projection_model or model
    raw = await model.get_pymongo_collection().find_one(filter_, _projection(target))
    return None if raw is None else target.model_validate(raw)


async def read_by_id(model: type[DocumentT], document_id: Any) -> DocumentT | None:
    """An unowned document by id (the caller's user, a key's owner): None for a malformed id."""
    oid = parse_object_id(document_id)
    return None if oid is None else await read_one(model, {"_id": oid})


async def update_and_read(
    model: type[DocumentT], filter_: dict[str, Any], update: dict[str, Any]
) -> DocumentT | None:
    """One findAndModify through the driver, for an update that is BSON as it is (counters,
    dates): the document after it, parsed as `read_one` parses, or None when nothing matched.
    Beanie's `find_one(...).update(...)` encodes the update and builds its query objects on
    each call: ~300,000 of the ~3,100,000 instructions of a request signed with an API key."""
    raw = await retrying(
        model.get_pymongo_collection().find_one_and_update,
        filter_,
        update,
        return_document=ReturnDocument.AFTER,  # the whole document, as Beanie asks for it
    )
    return None if raw is None else model.model_validate(raw)


def _projection(model: type[BaseModel]) -> dict[str, int] | None:
    if model not in _PROJECTIONS:
        _PROJECTIONS[model] = get_projection(model)
    return _PROJECTIONS[model]


def parse_object_id(value: Any) -> PydanticObjectId | None:
    """An ObjectId from a client's string, or None when it is not one.

    Beanie's own id type (an ObjectId subclass), so `Document.get` takes it as is: with a plain
    ObjectId it builds a pydantic TypeAdapter on every call to convert it."""
    if isinstance(value, PydanticObjectId):
        return value
    if isinstance(value, ObjectId):
        return PydanticObjectId(value)
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return PydanticObjectId(value)
    except (InvalidId, TypeError):
        return None


class Scope(Generic[D]):
    def __init__(
        self,
        model: type[D],
        owner_id: ObjectId | None,
        *,
        public_read: bool = False,
        trash: TrashView = "hide",
    ) -> None:
        self.model = model
        self.owner_id = owner_id
        self.public_read = public_read
        # Documents in the trash (`trashed_at` set) are hidden from every scope but the
        # trash's own ("only") and the paths that must see everything ("include": the storage
        # count, the account export and deletion).
        self.trash = trash if getattr(model, "trashable", False) else "include"

    # --- filters ------------------------------------------------------------------------------

    @property
    def collection(self) -> AsyncCollection:
        return self.model.get_pymongo_collection()

    def not_found(self) -> NotFound:
        return NotFound(f"No such {self.model.noun}.")

    def filter(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.public_read and self.model.public_when:
            if self.owner_id is None:
                base: dict[str, Any] = dict(self.model.public_when)
            else:
                base = {"$or": [{"owner_id": self.owner_id}, self.model.public_when]}
        else:
            base = {"owner_id": self.owner_id}
        if self.trash == "hide":
            base["trashed_at"] = None
        elif self.trash == "only":
            base["trashed_at"] = {"$ne": None}
        if not extra:
            return base
        return (
            {"$and": [base, extra]} if "$or" in base or "owner_id" in extra else {**base, **extra}
        )

    def id_filter(self, document_id: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The filter for one document by a client's id; a malformed id is a 404 like any
        other id that is not the caller's. Models whose ids are derived strings (budgets,
        events, deliveries) take a string."""
        oid: Any
        if _string_ids(self.model):
            oid = document_id if isinstance(document_id, str) and document_id else None
        else:
            oid = parse_object_id(document_id)
        if oid is None:
            raise self.not_found()
        return self.filter({"_id": oid, **(extra or {})})

    def match(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first stage of an aggregation over this scope."""
        return {"$match": self.filter(extra)}

    def _writable(self) -> None:
        if self.public_read:
            raise RuntimeError("a public-read scope cannot write")

    # --- reads --------------------------------------------------------------------------------

    @overload
    def find(self, extra: dict[str, Any] | None = None) -> FindMany[D]: ...
    @overload
    def find(
        self, extra: dict[str, Any] | None = None, *, projection_model: type[P]
    ) -> FindMany[P]: ...
    def find(
        self,
        extra: dict[str, Any] | None = None,
        *,
        projection_model: type[BaseModel] | None = None,
    ) -> FindMany[Any]:
        return self.model.find(self.filter(extra), projection_model=projection_model)

    @overload
    async def get_or_404(self, document_id: Any, *, extra: dict[str, Any] | None = None) -> D: ...
    @overload
    async def get_or_404(
        self, document_id: Any, *, extra: dict[str, Any] | None = None, projection_model: type[P]
    ) -> P: ...
    async def get_or_404(
        self,
        document_id: Any,
        *,
        extra: dict[str, Any] | None = None,
        projection_model: type[BaseModel] | None = None,
    ) -> Any:
        found = await read_one(self.model, self.id_filter(document_id, extra), projection_model)
        if found is None:
            raise self.not_found()
        return found

    async def find_one(
        self,
        extra: dict[str, Any] | None = None,
        *,
        projection_model: type[BaseModel] | None = None,
    ) -> Any:
        return await read_one(self.model, self.filter(extra), projection_model)

    async def exists(self, document_id: Any, extra: dict[str, Any] | None = None) -> bool:
        oid = parse_object_id(document_id)
        if oid is None:
            return False
        return await self.any({"_id": oid, **(extra or {})})

    async def any(self, extra: dict[str, Any]) -> bool:
        return await self.model.find(self.filter(extra)).limit(1).count() > 0

    async def count(self, extra: dict[str, Any] | None = None) -> int:
        return await self.model.find(self.filter(extra)).count()

    async def distinct(self, field: str, extra: dict[str, Any] | None = None) -> list[Any]:
        return await self.model.distinct(field, self.filter(extra))

    async def list_page(
        self,
        params: CursorParams,
        *,
        extra: dict[str, Any] | None = None,
        sort_field: str = "_id",
        projection_model: type[BaseModel] | None = None,
        pinned_first: bool = False,
    ) -> Page[Any]:
        """One page, newest first by (`sort_field`, `_id`) — after the pinned items where the
        list has them — and the cursor of the next."""
        after = after_cursor(sort_field, params.cursor, pinned_first=pinned_first)
        parts = [part for part in (extra, after) if part]
        where = {"$and": parts} if len(parts) > 1 else (parts[0] if parts else None)
        rows = (
            await self.find(where, projection_model=projection_model)  # type: ignore[call-overload]
            .sort(*sort_order(sort_field, pinned_first=pinned_first))
            .limit(params.limit + 1)
            .to_list()
        )
        return page_of(rows, params.limit, sort_field, pinned_first=pinned_first)

    # --- writes -------------------------------------------------------------------------------

    def new(self, **fields: Any) -> D:
        self._writable()
        assert self.owner_id is not None
        return self.model(owner_id=PydanticObjectId(self.owner_id), **fields)

    async def insert(self, document: D) -> D:
        """Stores a new document of this scope through the driver: what Beanie's `insert`
        stores, for documents whose fields are BSON as they are (ids, numbers, strings,
        datetimes; not a `date`). Beanie's encoder walks every value again: ~400,000 of a
        reservation's 4,100,000 instructions (valgrind, served app)."""
        self._writable()
        if document.owner_id != self.owner_id:
            raise RuntimeError("a scope inserts only its owner's documents")
        await retrying(self.collection.insert_one, document.model_dump(by_alias=True))
        return document

    async def update(
        self,
        document_id: Any,
        update: dict[str, Any],
        *,
        extra: dict[str, Any] | None = None,
        before: bool = False,
    ) -> D | None:
        """One atomic findAndModify on one owned document, guarded by `extra`: the document
        after (or `before`) the update, None when nothing matched."""
        self._writable()
        filter_ = self.id_filter(document_id, extra)
        response = UpdateResponse.OLD_DOCUMENT if before else UpdateResponse.NEW_DOCUMENT
        return await retrying(
            lambda: self.model.find_one(filter_).update(update, response_type=response)
        )

    async def update_one(
        self, document_id: Any, update: dict[str, Any], *, extra: dict[str, Any] | None = None
    ) -> bool:
        """The same atomic update, for callers that do not need the document back (a site's
        is its whole history): whether it matched."""
        self._writable()
        filter_ = self.id_filter(document_id, extra)
        # The driver's own `update_one`: the callers' updates are BSON already (dumped models,
        # ids, dates), and Beanie's encoder walked every value of them again (a commit's 20-file
        # manifest: hundreds of `isinstance` checks, the largest share of its own CPU).
        result = await retrying(self.collection.update_one, filter_, update)
        return result.matched_count == 1

    async def update_or_404(
        self, document_id: Any, update: dict[str, Any], *, extra: dict[str, Any] | None = None
    ) -> D:
        updated = await self.update(document_id, update, extra=extra)
        if updated is None:
            raise self.not_found()
        return updated

    async def update_many(self, extra: dict[str, Any], update: dict[str, Any]) -> int:
        self._writable()
        filter_ = self.filter(extra)
        result = await retrying(self.collection.update_many, filter_, update)  # as `update_one`
        return result.matched_count

    async def increment_within(
        self,
        document_id: Any,
        increments: dict[str, int],
        *,
        total: str,
        limit: int | None,
        first: Callable[[], D] | None = None,
        read: bool = False,
    ) -> int | None:
        """A guarded counter (`engine.increment_within_total`) on one owned document; `first`
        makes the document its first increment creates. None when refused; else the new total
        with `read` (one findAndModify), 0 without (one update)."""
        self._writable()
        filter_ = self.filter({"_id": document_id})
        return await increment_within_total(
            self.collection, filter_, increments, total=total, limit=limit, first=first, read=read
        )

    async def delete_or_404(self, document_id: Any) -> ObjectId:
        """Delete one owned document; its id, for what the caller deletes next."""
        self._writable()
        filter_ = self.id_filter(document_id)
        result = await retrying(lambda: self.model.find_one(filter_).delete())
        if result is None or result.deleted_count != 1:
            raise self.not_found()
        return filter_["_id"]

    async def delete_many(self, extra: dict[str, Any] | None = None) -> int:
        self._writable()
        filter_ = self.filter(extra)
        result = await retrying(lambda: self.model.find(filter_).delete())
        return result.deleted_count if result is not None else 0


def _string_ids(model: type[OwnedDocument]) -> bool:
    return model.model_fields["id"].annotation is str


def blob_filter(owner_id: ObjectId, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same rule for the blob store, whose GridFS file documents carry their owner in
    `metadata.owner_id` (`app/storage/`)."""
    return {"metadata.owner_id": owner_id, **(extra or {})}


def lease_filter(owner_id: ObjectId, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same rule for the upload leases beside the blob store (`app/storage/leases.py`)."""
    return {"owner_id": owner_id, **(extra or {})}


def owner_id_of(user: User | ObjectId) -> ObjectId:
    return user if isinstance(user, ObjectId) else ObjectId(str(user.id))


def owned(model: type[D], user: User | ObjectId, *, trash: TrashView = "hide") -> Scope[D]:
    """The caller's own documents of `model`: read and write. Those in the trash only with
    `trash="only"` (the trash itself) or `"include"` (what must see everything)."""
    return Scope(model, owner_id_of(user), trash=trash)


def readable(model: type[D], user: User | ObjectId) -> Scope[D]:
    """The caller's own documents plus the public ones (`model.public_when`); read-only."""
    if model.public_when is None:
        raise TypeError(f"{model.__name__} has no public read rule")
    return Scope(model, owner_id_of(user), public_read=True)


def public(model: type[D]) -> Scope[D]:
    """Only the public documents of `model` (`model.public_when`), for anonymous readers."""
    if model.public_when is None:
        raise TypeError(f"{model.__name__} has no public read rule")
    return Scope(model, None, public_read=True)

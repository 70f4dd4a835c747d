"""Owner scoping: the one way to query an owned collection.

    conversations = owned(Conversation, user)
    conversation = await conversations.get(conversation_id)   # someone else's id → NotFound
    page = await conversations.find({"archived": False}).to_list()

Every filter the scope builds starts with `owner_id`, so no route can forget it. A model that
declares `public_when` can also be read through `readable(Model, user)` (the owner's documents
plus the public ones) or `public(Model)` (only the public ones, for anonymous readers); both
scopes refuse to write.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from beanie import PydanticObjectId
from beanie.odm.queries.find import FindMany
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from app import engine
from app.errors import NotFound
from documents.base import OwnedDocument
from documents.user import User

D = TypeVar("D", bound=OwnedDocument)


def parse_object_id(value: Any) -> ObjectId | None:
    """An ObjectId from a client's string, or None when it is not one."""
    if isinstance(value, ObjectId):
        return value
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


class Scope(Generic[D]):
    def __init__(
        self, model: type[D], owner_id: ObjectId | None, *, public_read: bool = False
    ) -> None:
        self.model = model
        self.owner_id = owner_id
        self.public_read = public_read

    @property
    def collection(self) -> AsyncCollection:
        return self.model.get_pymongo_collection()

    def filter(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.public_read and self.model.public_when:
            if self.owner_id is None:
                base: dict[str, Any] = dict(self.model.public_when)
            else:
                base = {"$or": [{"owner_id": self.owner_id}, self.model.public_when]}
        else:
            base = {"owner_id": self.owner_id}
        if not extra:
            return base
        return (
            {"$and": [base, extra]} if "$or" in base or "owner_id" in extra else {**base, **extra}
        )

    def _id_filter(self, document_id: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        oid = parse_object_id(document_id)
        if oid is None:
            raise NotFound(f"No such {self.model.__name__.lower()}.")
        return self.filter({"_id": oid, **(extra or {})})

    def _writable(self) -> None:
        if self.public_read:
            raise RuntimeError("a public-read scope cannot write")

    def find(self, extra: dict[str, Any] | None = None, **kwargs: Any) -> FindMany[D]:
        return self.model.find(self.filter(extra), **kwargs)

    async def get(self, document_id: Any, **kwargs: Any) -> D:
        document = await self.model.find_one(self._id_filter(document_id), **kwargs)
        if document is None:
            raise NotFound(f"No such {self.model.__name__.lower()}.")
        return document

    async def get_raw(self, document_id: Any, projection: dict[str, Any] | None = None) -> dict:
        raw = await self.collection.find_one(self._id_filter(document_id), projection)
        if raw is None:
            raise NotFound(f"No such {self.model.__name__.lower()}.")
        return raw

    async def exists(self, document_id: Any) -> bool:
        oid = parse_object_id(document_id)
        if oid is None:
            return False
        found = await self.collection.find_one(self.filter({"_id": oid}), {"_id": 1})
        return found is not None

    def new(self, **fields: Any) -> D:
        self._writable()
        assert self.owner_id is not None
        return self.model(owner_id=PydanticObjectId(self.owner_id), **fields)

    async def find_one_and_update(
        self,
        document_id: Any,
        update: dict[str, Any],
        *,
        extra: dict[str, Any] | None = None,
        return_after: bool = True,
        projection: dict[str, Any] | None = None,
    ) -> dict | None:
        """One atomic findAndModify on one owned document; None when nothing matched.

        `projection` is sent where the engine implements findAndModify's `fields`
        (`app/engine.py`); elsewhere the whole document comes back, so callers must not rely on
        fields being absent, and documents stay bounded so that this is cheap."""
        self._writable()
        fields = projection if engine.profile().find_and_modify_projection else None
        return await self.collection.find_one_and_update(
            self._id_filter(document_id, extra),
            update,
            projection=fields,
            return_document=ReturnDocument.AFTER if return_after else ReturnDocument.BEFORE,
        )

    async def update_many(self, extra: dict[str, Any], update: dict[str, Any]) -> int:
        self._writable()
        result = await self.collection.update_many(self.filter(extra), update)
        return result.matched_count

    async def delete_one(self, document_id: Any) -> bool:
        self._writable()
        result = await self.collection.delete_one(self._id_filter(document_id))
        return result.deleted_count == 1

    async def delete_many(self, extra: dict[str, Any] | None = None) -> int:
        self._writable()
        result = await self.collection.delete_many(self.filter(extra))
        return result.deleted_count

    async def newest_first(
        self,
        extra: dict[str, Any] | None,
        *,
        limit: int,
        cursor: str | None,
        projection: dict[str, Any] | None = None,
    ) -> tuple[list[dict], str | None]:
        """One page of raw documents, newest first, and the cursor of the next page."""
        from app.pagination import after_cursor, page_of

        conditions = {**(extra or {}), **after_cursor("_id", cursor)}
        rows = (
            await self.collection.find(self.filter(conditions), projection)
            .sort("_id", -1)
            .limit(limit + 1)
            .to_list()
        )
        return page_of(rows, limit, "_id")

    async def count(self, extra: dict[str, Any] | None = None) -> int:
        return await self.collection.count_documents(self.filter(extra))


def _owner_id(user: User | ObjectId) -> ObjectId:
    return user if isinstance(user, ObjectId) else ObjectId(str(user.id))


def owned(model: type[D], user: User | ObjectId) -> Scope[D]:
    """The caller's own documents of `model`: read and write."""
    return Scope(model, _owner_id(user))


def readable(model: type[D], user: User | ObjectId) -> Scope[D]:
    """The caller's own documents plus the public ones (`model.public_when`); read-only."""
    if model.public_when is None:
        raise TypeError(f"{model.__name__} has no public read rule")
    return Scope(model, _owner_id(user), public_read=True)


def public(model: type[D]) -> Scope[D]:
    """Only the public documents of `model` (`model.public_when`), for anonymous readers."""
    if model.public_when is None:
        raise TypeError(f"{model.__name__} has no public read rule")
    return Scope(model, None, public_read=True)

"""Base documents: timestamps for every resource, and OwnedDocument for everything a user owns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from beanie import Document, PydanticObjectId
from pydantic import Field

# The initialisation pydantic runs for a model's private attributes (see `StoredDocument`).
from pydantic._internal._model_construction import init_private_attributes


def utcnow() -> datetime:
    """Now in UTC, cut to milliseconds (`to_millis`)."""
    return to_millis(datetime.now(UTC))


def to_millis(moment: datetime) -> datetime:
    """`moment` cut to milliseconds: what BSON stores, so a value reads back unchanged."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def day_of(moment: datetime) -> str:
    """The computed `day` field analytics group by (`2026-11-22`)."""
    return moment.astimezone(UTC).date().isoformat()  # strftime costs five times as much


class StoredDocument(Document):
    """Beanie's `Document` without two costs paid on every document, for features unused here.

    - lazy_model's `LazyModel` (Beanie's base) reads every attribute of every document through
      a Python `__getattribute__` (~0.2 µs each, against ~0.02 µs) so that `lazy_parse` can
      fill fields on first use. Documents here are parsed whole (`lazy_parse` refuses), so
      attributes are read by Python's own lookup.
    - pydantic wraps the inherited `model_post_init` again at every subclass level that has
      private attributes, so a `User` ran the initialisation of its private attributes four
      times per parse (the later three finding it done). It runs once.
    """

    __getattribute__ = object.__getattribute__

    @classmethod
    def lazy_parse(cls, data: dict[str, Any], fields: set[str] | None = None) -> Any:
        raise NotImplementedError("documents are parsed whole (`StoredDocument`)")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.model_post_init = init_private_attributes  # type: ignore[method-assign]


StoredDocument.model_post_init = init_private_attributes  # type: ignore[method-assign]


class TimestampedDocument(StoredDocument):
    # The id is made when the document is built, not by the driver on insert: Beanie converts a
    # driver-made id with a pydantic TypeAdapter it builds (schema and all) on every insert,
    # about 300 µs of CPU each, more than the insert's own round trip on a fast engine.
    id: PydanticObjectId | None = Field(  # type: ignore[assignment]
        default_factory=PydanticObjectId, description="MongoDB document ObjectID"
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OwnedDocument(TimestampedDocument):
    """A document that belongs to one user.

    Every query of an owned collection goes through `app.auth.scoping.owned`, which adds the
    owner; the account export and deletion walk every subclass listed in `OWNED_DOCUMENTS`.

    `blob_fields` names the dotted paths that hold blob sha256 values: `cleanup` keeps every
    blob that any owned document references through them, so a new area plugs into garbage
    collection by declaring its paths, without touching `cleanup`.
    """

    owner_id: PydanticObjectId
    # What a client calls it ("No such file.").
    noun: ClassVar[str] = "document"
    blob_fields: ClassVar[tuple[str, ...]] = ()
    # A model that allows some public reads gives the filter that selects the public documents.
    public_when: ClassVar[dict[str, Any] | None] = None

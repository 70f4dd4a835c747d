"""Base documents: timestamps for every resource, and OwnedDocument for everything a user owns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from beanie import Document, PydanticObjectId
from pydantic import Field


def utcnow() -> datetime:
    """Now in UTC, cut to milliseconds (`to_millis`)."""
    return to_millis(datetime.now(UTC))


def to_millis(moment: datetime) -> datetime:
    """`moment` cut to milliseconds: what BSON stores, so a value reads back unchanged."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def day_of(moment: datetime) -> str:
    """The computed `day` field analytics group by (`2026-11-22`)."""
    return moment.astimezone(UTC).date().isoformat()  # strftime costs five times as much


class TimestampedDocument(Document):
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

"""Shared request/response building blocks: ids, timestamps, pages, bounded strings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from bson import ObjectId
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

T = TypeVar("T")


def _id_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, ObjectId) else value


IdStr = Annotated[str, BeforeValidator(_id_to_str)]
# An id a client sends: 24 hex characters, never an object (no operator injection).
ObjectIdIn = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class StrictInput(BaseModel):
    """Request bodies: unknown fields are refused, strings are never coerced from objects."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr
    created_at: datetime
    updated_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Limit = Annotated[int, Field(ge=1, le=100, description="Page size (1-100); over 100 is 422")]

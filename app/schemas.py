"""Shared request/response building blocks: ids, timestamps, bounded strings (pages are in
`app.pagination`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, ClassVar

from bson import ObjectId
from fastapi import Query
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


def _id_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, ObjectId) else value


IdStr = Annotated[str, BeforeValidator(_id_to_str)]
# An id a client sends: 24 hex characters, never an object (no operator injection).
ObjectIdIn = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


def _check_text(value: Any, depth: int = 0) -> None:
    """Strings a database can store: no NUL, no lone surrogates (JSON can escape both)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    elif isinstance(value, dict) and depth < 64:
        for key, item in value.items():
            _check_text(key, depth + 1)
            _check_text(item, depth + 1)
    elif isinstance(value, list) and depth < 64:
        for item in value:
            _check_text(item, depth + 1)


class StrictInput(BaseModel):
    """Request bodies: unknown fields are refused, strings are never coerced from objects, and
    every string is one the database can store.

    `not_null` names fields that may be left out of a partial update but not set to null.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    not_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        _check_text(data)
        return data

    @model_validator(mode="after")
    def _no_nulls(self) -> Any:
        for name in self.not_null:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class ResourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    # Documents have `id`; raw driver results have `_id`.
    id: IdStr = Field(validation_alias=AliasChoices("id", "_id"))
    created_at: datetime
    updated_at: datetime


MAX_JSON_OBJECT_BYTES = 16 * 1024
MAX_JSON_DEPTH = 8


def _check_json_value(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
                raise ValueError("keys must be non-empty strings without '$' prefix or '.'")
            if "\x00" in key:
                raise ValueError("keys must not contain NUL")
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, list):
                raise ValueError("arrays directly inside arrays are not supported")
            _check_json_value(item, depth + 1)
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError("strings must not contain NUL")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise ValueError("integers must fit in 64 bits")


def _bounded_json_object(value: dict[str, Any]) -> dict[str, Any]:
    """A client's free-form object, safe to store: no operator-looking or dotted keys, bounded
    depth and size."""
    _check_json_value(value, 0)
    if len(json.dumps(value, separators=(",", ":"))) > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"larger than {MAX_JSON_OBJECT_BYTES} bytes as JSON")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json_object)]


# `DELETE …?permanent=true`: skip the trash (`app/trash/`).
Permanent = Annotated[
    bool, Query(description="Delete for good now instead of moving it to the trash")
]

# `keep` on a PATCH: pinned, so a retention policy never moves it to the trash.
Keep = Annotated[
    bool | None, Field(default=None, description="Pinned: retention never moves it to the trash")
]

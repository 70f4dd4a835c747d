"""The write primitives every first write and counter goes through.

Each one carries the answers engines differ on, so callers never catch a driver error: a unique
violation (`is_unique_violation`, whatever code the engine uses) becomes a return value, and a
transient answer under contention is retried under the one policy (`app/engine/contention.py`).
Raw driver where a caller writes a collection Beanie does not model (GridFS files, archive
buckets, migrations) or a bulk insert; Beanie documents are inserted through Beanie or, on hot
paths, through their scope's `insert` (`app/auth/scoping.py`).

- `insert_unless_exists`: a first write that may lose a race; False when the row exists.
- `insert_rows_unless_exist`: the same for many rows in one unordered `insert_many`.
- `increment_or_insert`: a counter created by an insert, never by a racing `$inc` upsert
  (PostgreSQL-backed engines lose increments that way).
- `increment_within`: a guarded `$inc` that applies only while a field stays under a limit,
  optionally of a counter its first increment creates.
- `drop_index_if_exists`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from beanie import Document
from bson.int64 import Int64
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, OperationFailure

from app.engine.contention import (
    after_transient,
    error_kind,
    raise_forced,
    retrying,
    transient_kind,
)
from app.engine.profile import is_unique_error, is_unique_violation, profile

T = TypeVar("T")


async def _unless_exists(insert: Callable[[], Awaitable[Any]]) -> bool:
    try:
        await retrying(insert)
    except OperationFailure as exc:
        if is_unique_violation(exc):
            return False
        raise
    return True


async def insert_unless_exists(document: Document) -> bool:
    """Insert `document`; False (and nothing written) when a unique index already holds its
    key: the caller reads or updates the winner's row, as MongoDB's own upsert retry would."""
    return await _unless_exists(document.insert)


async def insert_row_unless_exists(collection: AsyncCollection, row: Mapping[str, Any]) -> bool:
    """`insert_unless_exists` for a raw collection's row."""
    return await _unless_exists(lambda: collection.insert_one(dict(row)))


async def insert_rows_unless_exist(
    collection: AsyncCollection,
    rows: Sequence[dict[str, Any]],
    *,
    unique_key: Sequence[str] = ("_id",),
) -> set[int]:
    """Insert `rows` in one unordered `insert_many`; the indexes of those a unique index refused.

    Rows go in the order of `unique_key` (the fields of the unique index they may collide on):
    two racing batches that share keys then wait on each other in one direction only. In any
    other order, engines that lock rows form a cycle of waiting inserts, and PostgreSQL-backed
    ones break each cycle only after its deadlock timeout, one row at a time (README "Engines").

    Rows refused transiently are sent again, alone, under the policy; a row the engine accepted
    is never sent twice. When the whole command is refused transiently, every row goes again,
    so a row this call already wrote may come back refused by its own `_id`: callers that need
    to tell "mine" from "another writer's" compare `_id`s (the ledger does)."""
    pending = sorted(range(len(rows)), key=lambda i: [str(rows[i].get(f)) for f in unique_key])
    refused: set[int] = set()
    attempt = 0
    while pending:
        try:
            raise_forced()
            await collection.insert_many([rows[i] for i in pending], ordered=False)
            return refused
        except BulkWriteError as exc:
            again: set[int] = set()
            kind = None
            for error in exc.details.get("writeErrors") or []:
                index = pending[error["index"]]
                code, message = error.get("code"), error.get("errmsg")
                if is_unique_error(code, message):
                    refused.add(index)
                elif (row_kind := error_kind(code, message)) is not None:
                    again.add(index)
                    kind = kind or row_kind
                else:
                    raise
            if kind is None:
                return refused
            pending = [i for i in pending if i in again]
            await after_transient(kind, attempt, exc, insert_rows_unless_exist)
        except OperationFailure as exc:
            kind = transient_kind(exc)
            if kind is None:
                raise
            await after_transient(kind, attempt, exc, insert_rows_unless_exist)
        attempt += 1
    return refused


async def increment_or_insert(
    increment: Callable[[], Awaitable[T | None]], first: Document
) -> T | None:
    """A counter: `increment()` (one findAndModify `$inc` of the existing document, None when
    there is none) or, for the first writer, the insert of `first` (which already counts it):
    None then. The losers of that insert increment the winner's document."""
    counted = await retrying(increment)
    if counted is not None:
        return counted
    if await insert_unless_exists(first):
        return None
    counted = await retrying(increment)
    if counted is None:  # pragma: no cover - the insert was refused because the row exists
        raise RuntimeError(f"{type(first).__name__} {first.id} vanished")
    return counted


async def increment_within(
    collection: AsyncCollection,
    filter_: dict[str, Any],
    increments: Mapping[str, int],
    *,
    total: str,
    limit: int | None,
    first: Callable[[], Document] | None = None,
) -> bool:
    """`increment_within_total`, for callers that need only whether it applied."""
    return (
        await increment_within_total(
            collection, filter_, increments, total=total, limit=limit, first=first, read=False
        )
        is not None
    )


async def increment_within_total(
    collection: AsyncCollection,
    filter_: dict[str, Any],
    increments: Mapping[str, int],
    *,
    total: str,
    limit: int | None,
    first: Callable[[], Document] | None = None,
    read: bool = True,
) -> int | None:
    """Add `increments` (64-bit) to the one document `filter_` names, only while its `total`
    field stays within `limit` after the change (a release, negative, always applies): the
    new `total` (one findAndModify, so each of racing increments sees its own before and
    after), or with `read=False` one plain update and 0; None when the guard refused it or no
    document matched.

    With `first` (a factory of the document, built only when it is missing), a counter that its
    first increment creates: when the update matches nothing, a read of `filter_` tells whether
    the document is missing; it is then inserted (a racer may win that insert), and the update
    is sent again. Every increment but the first is one
    command, where inserting before each increment would cost a refused insert every time."""
    added = increments.get(total, 0)
    guard = dict(filter_)
    if limit is not None and added >= 0:
        if added > limit:
            return None
        guard[total] = {"$lte": limit - added}
    change = {"$inc": {path: Int64(amount) for path, amount in increments.items()}}
    fields = {total: 1} if profile().find_and_modify_projection else None

    async def apply() -> int | None:
        if not read:
            updated = await retrying(lambda: collection.update_one(guard, change))
            return 0 if updated.matched_count == 1 else None
        after = await retrying(
            lambda: collection.find_one_and_update(
                guard, change, projection=fields, return_document=ReturnDocument.AFTER
            )
        )
        return None if after is None else int(after[total])

    applied = await apply()
    if applied is not None:
        return applied
    if first is None:
        return None
    if not await retrying(lambda: collection.find_one(filter_, {"_id": 1})):
        await insert_unless_exists(first())
    # Sent again either way: a racer may have created the document since the first try.
    return await apply()


async def drop_index_if_exists(collection: AsyncCollection, name: str) -> None:
    """Drop an index; one that is already gone (whatever the engine answers) is no error."""
    try:
        await retrying(lambda: collection.drop_index(name))
    except OperationFailure:
        pass

"""The engine profile: what the connected engine is and can do.

Engines differ in ways the code must not learn one by one (`app/engine/__init__.py`):

- `detect()` reads `buildInfo` and `hello` at connect and settles an `EngineProfile`: the
  engine's name and version and what it can do. `database.connect` installs it; code that has a
  MongoDB way and a portable fallback asks `profile()` which one to take.
- `is_unique_violation()` decides "this write hit a unique index" for every engine, whatever
  code the engine reports it with.
- `pool_size()` chooses the connection pool: the driver's default wherever the engine isolates
  concurrent updates of one document, one connection where it does not.

What was found, engine by engine (README "Engines" has the table):

FerretDB v1.24 (SQLite handler) applies update operators in Go between a read and a write, so it
does not isolate concurrent updates of one document (upstream issue #3040): with one connection
per process it serves that process's requests one at a time, which restores per-document
atomicity for the process. It computes only the first accumulator of a `$group` (the others come
back 0); silently ignores the `$push` modifiers `$slice`/`$sort`/`$position` and `$pull`
conditions on fields of embedded documents; does not implement `findAndModify`'s `fields`; has
no TTL indexes, no transactions; drops the connection when one `createIndexes` lists several
indexes of which some exist; and reports a unique violation as code 1 from an `update` upsert
(11000 from `insert` and `findAndModify`).

FerretDB v2 (on PostgreSQL with DocumentDB) reports a unique violation from `findAndModify` as
code 1, "conflicting key value violates exclusion constraint", and loses `$inc`s when racing
upserts create one new document: counters are created by an insert that may lose the race and
then incremented, on every engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pymongo import IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

# Codes MongoDB uses for a unique-index violation (12582 is the old mongos code).
DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})
# Engines that report a unique violation under the generic code 1 say so in the message.
_DUPLICATE_MESSAGE = re.compile(
    r"duplicate key|E11000|exclusion constraint|unique constraint", re.IGNORECASE
)


@dataclass(frozen=True)
class EngineProfile:
    """What the connected engine is and can do. Every flag is a MongoDB feature that some
    engine lacks; True means the code may use it."""

    name: str
    version: str
    wire_version: int = 0
    isolated_updates: bool = True
    multi_accumulator_group: bool = True
    push_modifiers: bool = True
    pull_embedded_conditions: bool = True
    find_and_modify_projection: bool = True
    batched_create_indexes: bool = True
    ttl_indexes: bool = True
    transactions: bool = False
    # Text indexes (`$text`, `textScore`): MongoDB's are diacritic-insensitive, DocumentDB's
    # (textIndexVersion 2 only) are not, which the search's folded message text makes up for.
    text_index: bool = True
    duplicate_codes: str = "11000 for every write"
    notes: list[str] = field(default_factory=list)

    @property
    def capabilities(self) -> dict[str, bool]:
        return {
            "isolated_concurrent_updates": self.isolated_updates,
            "multi_accumulator_group": self.multi_accumulator_group,
            "push_modifiers": self.push_modifiers,
            "pull_embedded_conditions": self.pull_embedded_conditions,
            "find_and_modify_projection": self.find_and_modify_projection,
            "batched_create_indexes": self.batched_create_indexes,
            "ttl_indexes": self.ttl_indexes,
            "transactions": self.transactions,
            "text_index": self.text_index,
        }


# Every capability missing: what the code assumes of an engine it knows nothing about.
NOTHING = {
    "isolated_updates": False,
    "multi_accumulator_group": False,
    "push_modifiers": False,
    "pull_embedded_conditions": False,
    "find_and_modify_projection": False,
    "batched_create_indexes": False,
    "ttl_indexes": False,
    "transactions": False,
    "text_index": False,
}


def _ferretdb_v1(version: str, wire: int) -> EngineProfile:
    return EngineProfile(
        name="FerretDB",
        version=version,
        wire_version=wire,
        **NOTHING,  # type: ignore[arg-type]
        duplicate_codes="11000 from insert and findAndModify; 1 from update upserts",
        notes=[
            "updates of one document are not isolated across connections: one connection",
            "only the first $group accumulator is computed: one pipeline per measure",
            "no text indexes: the search scans the caller's documents with regular expressions",
        ],
    )


def _ferretdb_v2(version: str, wire: int) -> EngineProfile:
    return EngineProfile(
        name="FerretDB",
        version=version,
        wire_version=wire,
        ttl_indexes=True,
        transactions=False,
        duplicate_codes="11000 from insert and update; 1 (exclusion constraint) from findAndModify",
        notes=[
            "racing upserts that create one document can lose $inc: counters insert first",
            "text indexes are diacritic-sensitive: matched against the messages' folded text",
        ],
    )


def profile_from(build_info: dict[str, Any], hello: dict[str, Any]) -> EngineProfile:
    """The profile for what `buildInfo` and `hello` answered."""
    wire = int(hello.get("maxWireVersion", 0) or 0)
    ferret = build_info.get("ferretdbVersion") or (build_info.get("ferretdb") or {}).get("version")
    if ferret:
        version = str(ferret)
        major = re.match(r"v?(\d+)", version)
        if major and int(major.group(1)) < 2:
            return _ferretdb_v1(version, wire)
        return _ferretdb_v2(version, wire)
    version = str(build_info.get("version", "unknown"))
    replicated = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    return EngineProfile(
        name="MongoDB",
        version=version,
        wire_version=wire,
        transactions=replicated and wire >= 7,
        notes=[] if replicated else ["standalone server: no transactions (not needed)"],
    )


async def detect(client: Any) -> EngineProfile:
    """Ask the server what it is (two commands, at connect)."""
    build_info = await client.admin.command("buildInfo")
    hello = await client.admin.command("hello")
    return profile_from(build_info, hello)


def is_text_index(index: IndexModel) -> bool:
    return any(direction == "text" for _field, direction in index.document["key"].items())


def supported_indexes(engine: EngineProfile, indexes: list[IndexModel]) -> list[IndexModel]:
    """The declared indexes the engine can build: text indexes only where it has them."""
    return [i for i in indexes if engine.text_index or not is_text_index(i)]


def pool_size(engine: EngineProfile, requested: int | None) -> int | None:
    """The connection pool to use: `requested` when the operator set one; else one connection
    where updates of one document are not isolated across connections (so a process's writes
    reach the engine one at a time); else None, the driver's default."""
    if requested is not None:
        return requested
    return None if engine.isolated_updates else 1


def is_unique_violation(exc: BaseException) -> bool:
    """True when `exc` says a write hit a unique index, on any engine."""
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(is_unique_error(e.get("code"), e.get("errmsg")) for e in errors)
    if isinstance(exc, OperationFailure):
        return is_unique_error(exc.code, str(exc.details.get("errmsg") if exc.details else exc))
    return False


def is_unique_error(code: Any, message: Any) -> bool:
    """True when one write error (code, message) is a unique-index violation, on any engine."""
    if code in DUPLICATE_KEY_CODES:
        return True
    return code == 1 and bool(_DUPLICATE_MESSAGE.search(str(message or "")))


# The profile in use by this process, installed by `database.connect`. Until then the code
# takes the portable path everywhere.
PORTABLE = EngineProfile(name="unknown", version="", **NOTHING)  # type: ignore[arg-type]
_profile: EngineProfile = PORTABLE


def use(engine: EngineProfile) -> None:
    global _profile
    _profile = engine


def profile() -> EngineProfile:
    return _profile

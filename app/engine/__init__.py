"""The database engine behind `MONGODB_URL`, and every difference between engines.

Production is MongoDB 8; development, the tests and CI run the embedded FerretDB v1.24, and
FerretDB v2 with DocumentDB on PostgreSQL is the isolating engine of the development loop. They
differ in ways the code must not learn one by one, so this package is the only place that knows
engines by name (README "Engines" has the findings):

- `profile.py`: what the connected engine is and can do, settled at connect, and how it reports
  a unique violation.
- `contention.py`: what engines answer under contention, and the one retry policy for it.
- `writes.py`: the write primitives every first write and counter goes through, so callers
  never catch a driver error.
"""

from app.engine.contention import (
    EngineBusy,
    count,
    forced_transient,
    retrying,
    transient_kind,
)
from app.engine.profile import (
    PORTABLE,
    EngineProfile,
    detect,
    is_text_index,
    is_unique_error,
    is_unique_violation,
    pool_size,
    profile,
    profile_from,
    supported_indexes,
    use,
)
from app.engine.writes import (
    drop_index_if_exists,
    increment_or_insert,
    increment_within,
    increment_within_total,
    insert_row_unless_exists,
    insert_rows_unless_exist,
    insert_unless_exists,
)

__all__ = [
    "PORTABLE",
    "EngineBusy",
    "EngineProfile",
    "count",
    "detect",
    "drop_index_if_exists",
    "forced_transient",
    "increment_or_insert",
    "increment_within",
    "increment_within_total",
    "insert_row_unless_exists",
    "insert_rows_unless_exist",
    "insert_unless_exists",
    "is_text_index",
    "is_unique_error",
    "is_unique_violation",
    "pool_size",
    "profile",
    "profile_from",
    "retrying",
    "supported_indexes",
    "transient_kind",
    "use",
]

"""Transient answers under contention, and the one policy for them.

When requests race, every engine sometimes answers a write with "try again" instead of a result:
MongoDB with WriteConflict (112), LockTimeout (24) or LockBusy (46) and the
`TransientTransactionError` / `RetryableWriteError` labels; engines on PostgreSQL with its
"deadlock detected" (SQLSTATE 40P01), "could not serialize access" (40001) and lock timeouts
(55P03), reported under the generic code 1 at the top level and as the packed SQLSTATE inside a
bulk write's `writeErrors` (FerretDB v2 + DocumentDB: 16908292 is 40P01). A command refused that
way applied nothing: a single-document write is all or nothing on every engine, and a bulk
write's refused rows are named one by one.

The policy, for every write step that is safe to repeat (the primitives in `app/engine/writes.py`
and the owner scope's writes use it; a step that would not be safe is first made so, guarded by
its request, batch or lease id): up to `ATTEMPTS` tries with exponential backoff and full
jitter, then `EngineBusy`, which the API answers 503 with `Retry-After`, never 500.
`db_transient_errors_total{engine, kind, outcome}` counts every such answer.

`forced_transient()` makes the next attempts of this process see a transient answer built as the
engines build theirs: how a test meets one on demand (no engine produces them on request).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prometheus_client import Counter
from pymongo.errors import BulkWriteError, OperationFailure

from app.engine.profile import profile

T = TypeVar("T")
log = logging.getLogger("app.engine")

ATTEMPTS = 10
BASE_DELAY_S = 0.005
MAX_DELAY_S = 1.0
RETRY_AFTER_S = 1


def sqlstate(code: str) -> int:
    """PostgreSQL's integer form of a five-character SQLSTATE (six bits a character), which
    DocumentDB reports as the code of a bulk write's refused row."""
    return sum(((ord(char) - ord("0")) & 0x3F) << (6 * i) for i, char in enumerate(code))


TRANSIENT_CODES: dict[int, str] = {
    112: "write_conflict",  # MongoDB WriteConflict
    24: "lock_timeout",  # MongoDB LockTimeout
    46: "lock_busy",  # MongoDB LockBusy
    sqlstate("40P01"): "deadlock",
    sqlstate("40001"): "serialization",
    sqlstate("55P03"): "lock_timeout",
}
TRANSIENT_LABELS = {
    "TransientTransactionError": "transient_label",
    "RetryableWriteError": "retryable_label",
}
# What PostgreSQL-backed engines put in the message when the code is the generic 1.
TRANSIENT_MESSAGES = (
    ("deadlock detected", "deadlock"),
    ("could not serialize access", "serialization"),
    ("lock timeout", "lock_timeout"),
    ("could not obtain lock", "lock_timeout"),
    ("write conflict", "write_conflict"),
)

TRANSIENT_ERRORS = Counter(
    "db_transient_errors_total",
    "Transient engine answers under contention, by engine, kind and outcome: retried, "
    "exhausted (answered 503 after the last attempt), unretried (a write outside the "
    "primitives, answered 503).",
    ["engine", "kind", "outcome"],
)


class EngineBusy(Exception):
    """Contention outlasted the retries: the client should try again after `retry_after`."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the database stayed busy ({kind})")
        self.kind = kind
        self.retry_after = RETRY_AFTER_S


def error_kind(code: Any, message: Any) -> str | None:
    """The kind of transient answer one (code, message) is, or None when it is not one."""
    if isinstance(code, int) and code in TRANSIENT_CODES:
        return TRANSIENT_CODES[code]
    text = str(message or "").lower()
    for fragment, kind in TRANSIENT_MESSAGES:
        if fragment in text:
            return kind
    return None


def transient_kind(exc: BaseException) -> str | None:
    """The kind of transient answer `exc` is (for a bulk write: its first transient row), or
    None when repeating would not help."""
    if isinstance(exc, BulkWriteError):
        for error in exc.details.get("writeErrors") or []:
            kind = error_kind(error.get("code"), error.get("errmsg"))
            if kind is not None:
                return kind
        return None
    if not isinstance(exc, OperationFailure):
        return None
    details = exc.details or {}
    kind = error_kind(exc.code, details.get("errmsg") or str(exc))
    for label, label_kind in TRANSIENT_LABELS.items():
        if kind is None and exc.has_error_label(label):
            kind = label_kind
    return kind


def count(kind: str, outcome: str) -> None:
    TRANSIENT_ERRORS.labels(profile().name, kind, outcome).inc()


def backoff(attempt: int) -> float:
    """Full jitter: a uniform wait below an exponentially growing, capped ceiling."""
    return random.uniform(0, min(MAX_DELAY_S, BASE_DELAY_S * 2**attempt))  # noqa: S311


async def after_transient(kind: str, attempt: int, exc: BaseException, step: object) -> None:
    """Wait before attempt `attempt + 1`, or give up with `EngineBusy` after the last."""
    if attempt + 1 >= ATTEMPTS:
        count(kind, "exhausted")
        name = getattr(step, "__qualname__", str(step))
        log.warning("transient engine answer persisted: %s in %s", kind, name)
        raise EngineBusy(kind) from exc
    count(kind, "retried")
    await asyncio.sleep(backoff(attempt))


async def retrying(step: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run one write step that is safe to repeat, `step(*args, **kwargs)`, under the policy."""
    attempt = 0
    while True:
        try:
            raise_forced()
            return await step(*args, **kwargs)
        except OperationFailure as exc:
            kind = transient_kind(exc)
            if kind is None:
                raise
            await after_transient(kind, attempt, exc, step)
            attempt += 1


# --- forced answers, for tests --------------------------------------------------------------

_forced: list[str] = []


def synthetic(kind: str) -> OperationFailure:
    """A transient answer as the engines send it."""
    if kind == "deadlock":
        return OperationFailure("deadlock detected", 1, {"ok": 0, "errmsg": "deadlock detected"})
    if kind == "write_conflict":
        details = {
            "ok": 0,
            "code": 112,
            "errmsg": "WriteConflict error: this operation conflicted with another operation",
            "errorLabels": ["TransientTransactionError"],
        }
        return OperationFailure(details["errmsg"], 112, details)
    raise ValueError(f"no synthetic answer for {kind!r}")


def raise_forced() -> None:
    if _forced:
        raise synthetic(_forced.pop())


@contextmanager
def forced_transient(times: int, kind: str = "deadlock") -> Iterator[None]:
    """The next `times` write attempts of this process see a transient answer of `kind`."""
    synthetic(kind)
    _forced[:] = [kind] * times
    try:
        yield
    finally:
        _forced.clear()

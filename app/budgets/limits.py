"""Which limit applies: the user's own (set by an administrator), else the default from
settings, else none. The defaults are installed once at start (`use_defaults`), like the engine
profile, because uploads meet the storage limit deep inside the blob store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.money import to_micros
from app.settings import Settings
from documents.api_key import ApiKey
from documents.user import User


@dataclass(frozen=True)
class DefaultLimits:
    monthly_spend_micros: int | None = None
    storage_bytes: int | None = None


_defaults = DefaultLimits()


def use_defaults(settings: Settings) -> None:
    global _defaults
    spend = settings.default_monthly_spend_usd
    _defaults = DefaultLimits(
        monthly_spend_micros=None if spend is None else to_micros(spend),
        storage_bytes=settings.default_storage_bytes,
    )


def spend_limit(user: User) -> int | None:
    own = user.limits.monthly_spend_micros
    return own if own is not None else _defaults.monthly_spend_micros


def key_spend_limit(api_key: ApiKey | None) -> int | None:
    return None if api_key is None else api_key.monthly_spend_micros


def storage_limit(user: User) -> int | None:
    own = user.limits.storage_bytes
    return own if own is not None else _defaults.storage_bytes


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a budget counts: `2026-11`."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_resets_at(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)

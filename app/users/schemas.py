from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, computed_field, field_validator

from app.auth.dependencies import AREAS
from app.money import to_usd_text
from app.schemas import ResourceRead, StrictInput


class NotificationSettingsRead(BaseModel):
    email: bool
    product: bool


class UserSettingsRead(BaseModel):
    theme: str
    language: str
    timezone: str
    default_model: str | None
    notifications: NotificationSettingsRead


class UserRead(ResourceRead):
    email: str
    name: str | None
    birthdate: date | None
    roles: list[str]
    email_verified: bool
    settings: UserSettingsRead


SettingText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class NotificationSettingsPatch(StrictInput):
    not_null = ("email", "product")
    email: bool | None = None
    product: bool | None = None


class UserSettingsPatch(StrictInput):
    not_null = ("theme", "language", "timezone", "notifications")
    theme: SettingText | None = None
    language: SettingText | None = None
    timezone: SettingText | None = None
    default_model: Annotated[str, StringConstraints(max_length=128)] | None = None
    notifications: NotificationSettingsPatch | None = None


class UserPatch(StrictInput):
    not_null = ("settings",)
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    birthdate: date | None = None
    settings: UserSettingsPatch | None = None


class AccountDeletion(StrictInput):
    password: Annotated[str, StringConstraints(max_length=1024)] | None = None


VALID_SCOPES = {"*"} | {f"{area}:{action}" for area in AREAS for action in ("read", "write")}
# `*`, or `<area>:read` / `<area>:write` for each area: an enum in the OpenAPI document.
ApiKeyScope = Literal[tuple(sorted(VALID_SCOPES))]  # type: ignore[valid-type]


class ApiKeyCreate(StrictInput):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: list[ApiKeyScope] = Field(min_length=1, max_length=len(VALID_SCOPES))
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - VALID_SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(scopes))


class ApiKeyUsageRead(BaseModel):
    count: int
    last_used_at: datetime | None


class ApiKeyRead(ResourceRead):
    name: str
    prefix: str
    scopes: list[ApiKeyScope]
    rate_limit_per_minute: int | None
    usage: ApiKeyUsageRead
    revoked_at: datetime | None = None
    monthly_spend_micros: int | None = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def monthly_spend_usd(self) -> str | None:
        """The owner's monthly cap on this key, an exact decimal string; null: no cap."""
        return None if self.monthly_spend_micros is None else to_usd_text(self.monthly_spend_micros)


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret; shown only in this response")

"""Users and the external identities that log them in."""

from __future__ import annotations

from datetime import date

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from documents.base import TimestampedDocument
from documents.retention import RetentionRules


class NotificationSettings(BaseModel):
    email: bool = True
    product: bool = False


class UserSettings(BaseModel):
    theme: str = "system"
    language: str = "en"
    timezone: str = "UTC"
    default_model: str | None = None
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)


class UserLimits(BaseModel):
    """Set by an administrator; None: the default from settings (unset there: unlimited)."""

    monthly_spend_micros: int | None = None
    storage_bytes: int | None = None


class User(TimestampedDocument):
    email: str  # always stored lowercased: one form for every engine, no collation needed
    password_hash: str | None = None
    name: str | None = None
    birthdate: date | None = None
    roles: list[str] = Field(default_factory=list)
    email_verified: bool = False
    settings: UserSettings = Field(default_factory=UserSettings)
    limits: UserLimits = Field(default_factory=UserLimits)
    retention: RetentionRules | None = None  # stricter than the administrators', if set

    class Settings:
        name = "users"
        indexes = [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class ExternalIdentity(TimestampedDocument):
    """(issuer, sub) → user. Its own collection: users without one never collide on nulls."""

    issuer: str
    sub: str
    user_id: PydanticObjectId

    class Settings:
        name = "external_identities"
        indexes = [
            IndexModel([("issuer", ASCENDING), ("sub", ASCENDING)], unique=True, name="iss_sub")
        ]

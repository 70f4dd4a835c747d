"""API keys: only the sha256 of the secret is stored; the prefix lets a user recognise a key."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from documents.base import OwnedDocument


class ApiKeyUsage(BaseModel):
    count: int = 0
    last_used_at: datetime | None = None


class ApiKey(OwnedDocument):
    noun = "API key"
    name: str
    prefix: str
    key_hash: str
    scopes: list[str]
    rate_limit_per_minute: int | None = None
    monthly_spend_micros: int | None = None  # the owner's cap on this key; None: no cap
    usage: ApiKeyUsage = Field(default_factory=ApiKeyUsage)
    revoked_at: datetime | None = None

    class Settings:
        name = "api_keys"
        indexes = [
            IndexModel([("key_hash", ASCENDING)], unique=True, name="key_hash_unique"),
            IndexModel([("owner_id", ASCENDING), ("created_at", ASCENDING)], name="owner_created"),
        ]

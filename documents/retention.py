"""Retention: how long each kind of a user's data is kept after its last activity. One policy set
by administrators (`retention_policies`, id "global"); a user may keep a stricter one on their
own document (`User.retention`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from beanie import PydanticObjectId
from pydantic import BaseModel, ConfigDict, Field

from documents.base import StoredDocument, utcnow

Days = Annotated[float | None, Field(default=None, gt=0, le=36_500)]
RETENTION_KINDS = (
    "conversations",
    "sites",
    "files",
    "drawings",
    "stories",
    "workflows",
    "projects",
)


class RetentionRules(BaseModel):
    """Maximum age in days (fractions allowed) per kind, from its last activity; null: no limit."""

    model_config = ConfigDict(extra="forbid")

    conversations_days: Days = None
    sites_days: Days = None
    files_days: Days = None
    drawings_days: Days = None
    stories_days: Days = None
    workflows_days: Days = None
    projects_days: Days = None

    def days(self, kind: str) -> float | None:
        return getattr(self, f"{kind}_days")


class RetentionPolicy(StoredDocument):
    id: str = Field(default="global", alias="_id")  # type: ignore[assignment]
    rules: RetentionRules = Field(default_factory=RetentionRules)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: PydanticObjectId | None = None

    class Settings:
        name = "retention_policies"

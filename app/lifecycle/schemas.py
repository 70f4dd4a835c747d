from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas import IdStr, ObjectIdIn, StrictInput


class HoldCreate(StrictInput):
    user_id: ObjectIdIn
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class HoldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr
    user_id: IdStr
    reason: str
    created_by: IdStr
    created_at: datetime
    released_at: datetime | None
    released_by: IdStr | None
    active: bool = Field(description="Not released: nothing of the user's is purged")

    @classmethod
    def of(cls, hold: Any) -> HoldRead:
        return cls.model_validate({**hold.model_dump(), "active": hold.released_at is None})


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr
    at: datetime
    action: str
    actor_id: IdStr | None
    user_id: IdStr | None
    details: dict[str, Any]

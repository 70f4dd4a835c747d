from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, computed_field

from app.money import UsdIn, to_usd
from app.schemas import IdStr, ObjectIdIn, ResourceRead, StrictInput
from documents.usage import UsageSource, UsageStatus

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Count = Annotated[int, Field(ge=0, le=10**12)]


class UsageCreate(StrictInput):
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    provider: Name
    model: Name
    operation: Name
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    cost_usd: UsdIn = Decimal(0)
    latency_ms: Annotated[int, Field(ge=0, le=24 * 3600 * 1000)] = 0
    status: UsageStatus = "ok"
    generation_id: ObjectIdIn | None = None
    workflow_id: ObjectIdIn | None = None
    occurred_at: datetime | None = None
    reservation_id: ObjectIdIn | None = Field(
        default=None,
        description="Settles this reservation: the event records the actual cost and releases "
        "the hold (`overrun: true` when the cost is above it)",
    )


MAX_BATCH_EVENTS = 1000


class UsageBatchCreate(StrictInput):
    events: Annotated[
        list[UsageCreate],
        Field(min_length=1, max_length=MAX_BATCH_EVENTS, description="At most 1,000 events"),
    ]


class UsageBatchItem(BaseModel):
    request_id: str
    id: IdStr
    duplicate: bool


class UsageBatchRead(BaseModel):
    recorded: int
    duplicates: int
    items: list[UsageBatchItem]


class UsageRead(ResourceRead):
    request_id: str
    api_key_id: IdStr | None
    provider: str
    model: str
    operation: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int
    latency_ms: int
    status: UsageStatus
    source: UsageSource
    generation_id: IdStr | None
    workflow_id: IdStr | None
    conversation_id: IdStr | None = None
    reservation_id: IdStr | None = None
    overrun: bool = False
    occurred_at: datetime
    day: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float:
        return to_usd(self.cost_micros)

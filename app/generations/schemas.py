from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, computed_field

from app.money import UsdIn, to_usd
from app.schemas import IdStr, ObjectIdIn, ResourceRead, StrictInput
from documents.generation import GenerationKind, GenerationStatus

Kind = GenerationKind
Status = GenerationStatus
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class GenerationCreate(StrictInput):
    kind: Kind
    prompt: Prompt
    model: ModelName | None = None
    project_id: ObjectIdIn | None = None
    conversation_id: ObjectIdIn | None = None
    message_id: ObjectIdIn | None = None
    budget_usd: UsdIn | None = Field(
        default=None,
        description="Hold this much of the monthly budget (402 when it does not fit); the final "
        "PATCH settles it with the usage, or releases it",
    )


class OutputIn(StrictInput):
    code: Annotated[str, StringConstraints(max_length=1_000_000)] | None = None
    file_ids: Annotated[list[ObjectIdIn], Field(max_length=100)] = []


class GenerationUsageIn(StrictInput):
    provider: ModelName | None = None
    prompt_tokens: Annotated[int, Field(ge=0, le=10**12)] = 0
    completion_tokens: Annotated[int, Field(ge=0, le=10**12)] = 0
    cost_usd: UsdIn = Decimal(0)


class GenerationPatch(StrictInput):
    status: Status
    error: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    output: OutputIn | None = None
    usage: GenerationUsageIn | None = None
    duration_ms: Annotated[int, Field(ge=0, le=7 * 24 * 3600 * 1000)] | None = None


class OutputRead(BaseModel):
    code: str | None = None
    file_ids: list[IdStr] = []


class GenerationUsageRead(BaseModel):
    provider: str | None = None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float:
        return to_usd(self.cost_micros)


class GenerationRead(ResourceRead):
    kind: Kind
    prompt: str
    status: Status
    error: str | None = None
    output: OutputRead | None = None
    model: str | None = None
    usage: GenerationUsageRead | None = None
    duration_ms: int | None = None
    project_id: IdStr | None = None
    conversation_id: IdStr | None = None
    message_id: IdStr | None = None
    reservation_id: IdStr | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

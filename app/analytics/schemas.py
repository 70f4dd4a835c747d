from __future__ import annotations

from beanie import PydanticObjectId
from pydantic import BaseModel, Field


class UsageTotals(BaseModel):
    calls: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int
    cost_usd: float
    avg_latency_ms: float | None


class UsageRow(UsageTotals):
    key: str | None


class RollupSums(BaseModel):
    """The part of a usage rollup a report reads."""

    owner_id: PydanticObjectId
    day: str
    key: str | None = None
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micros: int = 0
    latency_ms: int = 0


class UsageReport(BaseModel):
    group_by: str
    granularity: str = "day"
    from_: str = Field(serialization_alias="from")
    to: str
    items: list[UsageRow]
    totals: UsageTotals


class GenerationRow(BaseModel):
    key: str | None
    count: int
    succeeded: int
    failed: int
    avg_duration_ms: float | None


class GenerationReport(BaseModel):
    items: list[GenerationRow]


class Summary(BaseModel):
    conversations: int
    messages: int
    sites: int
    site_versions: int
    files: int
    file_bytes: int
    generations: dict[str, int]
    workflows: dict[str, int]
    drawings: int
    stories: int
    favorite_stories: int

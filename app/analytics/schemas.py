from __future__ import annotations

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


class UsageReport(BaseModel):
    group_by: str
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

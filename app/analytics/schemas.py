from __future__ import annotations

from datetime import date
from typing import Literal

from beanie import PydanticObjectId
from pydantic import BaseModel, Field

from app.usage.rollups import decode_key
from documents.usage import RollupMeasures


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


class RollupDay(BaseModel):
    """The part of a day's usage rollup a report reads (all but the batch guard)."""

    owner_id: PydanticObjectId
    day: str
    total: RollupMeasures = RollupMeasures()
    model: dict[str, RollupMeasures] = {}
    provider: dict[str, RollupMeasures] = {}
    operation: dict[str, RollupMeasures] = {}
    api_key: dict[str, RollupMeasures] = {}

    def rows(self, group_by: str, granularity: str) -> list[tuple[str | None, RollupMeasures]]:
        """(report key, sums) for each row of this day under `group_by`."""
        if not self.total.calls:
            return []  # a day created for a batch whose increment has not landed yet
        if group_by == "day":
            return [(period_bucket(self.day, granularity), self.total)]
        if group_by == "user":
            return [(str(self.owner_id), self.total)]
        keyed: dict[str, RollupMeasures] = getattr(self, group_by)
        return [(decode_key(name), sums) for name, sums in keyed.items()]


def period_bucket(day: str, granularity: str) -> str:
    """The `group_by=day` row a day falls in: the day, its ISO week (`2026-W48`) or its
    calendar month (`2026-11`)."""
    if granularity == "week":
        year, week, _ = date.fromisoformat(day).isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return day[:7]
    return day


class UsageReport(BaseModel):
    group_by: Literal["day", "model", "provider", "operation", "api_key", "user"]
    granularity: Literal["day", "week", "month"] = "day"
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

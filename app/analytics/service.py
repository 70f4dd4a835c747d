"""Analytics: run the pipelines of `pipelines.py` and shape their rows (averages divided here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from beanie import Document
from bson import ObjectId

from app import engine
from app.analytics import pipelines
from app.analytics.schemas import (
    GenerationReport,
    GenerationRow,
    RollupDay,
    Summary,
    UsageReport,
    UsageRow,
    UsageTotals,
)
from app.auth.scoping import owned
from app.errors import Unprocessable
from app.money import to_usd
from documents.base import OwnedDocument
from documents.conversation import Conversation
from documents.drawing import Drawing
from documents.file import StoredFile
from documents.generation import Generation
from documents.site import Site
from documents.story import Story
from documents.usage import ROLLUP_MEASURES, UsageRollup
from documents.user import User
from documents.workflow import Workflow

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
SUMMED = ("calls", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_micros")


def period(first: date | None, last: date | None) -> tuple[str, str]:
    """Validated [from, to] as `day` strings (README "Usage and analytics", the period rule):
    `to` defaults to today (UTC) and `from` to 29 days before `to`; at most 366 days."""
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise Unprocessable(
            f"The period is longer than {MAX_PERIOD_DAYS} days; give `from` and `to`.",
            field="query.to",
        )
    return first.isoformat(), last.isoformat()


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def one_group() -> bool:
    """Whether the engine computes every accumulator of one `$group` (`app/engine/`)."""
    return engine.profile().multi_accumulator_group


async def run_measures(
    model: type[Document], named: dict[str, pipelines.Pipeline], measures: Iterable[str]
) -> dict[Any, dict[str, int]]:
    """Run the report's pipelines (one, or one per measure) and join their rows by group key."""
    names = list(measures)
    joined: dict[Any, dict[str, int]] = {}
    for name, pipeline in named.items():
        for row in await model.aggregate(pipeline).to_list():
            sums = joined.setdefault(row["_id"], dict.fromkeys(names, 0))
            if name == pipelines.ALL_MEASURES:
                sums.update({measure: row[measure] for measure in names})
            else:
                sums[name] = row["value"]
    return joined


def _usage_totals(sums: dict[str, int]) -> UsageTotals:
    calls = sums.get("calls", 0)
    return UsageTotals(
        **{name: sums.get(name, 0) for name in SUMMED},
        cost_usd=to_usd(sums.get("cost_micros", 0)),
        avg_latency_ms=round(sums.get("latency_ms", 0) / calls, 3) if calls else None,
    )


def _sorted_keys(joined: dict[Any, Any]) -> list[Any]:
    return sorted(joined, key=lambda k: (k is None, str(k)))


async def usage_report(
    owner_id: ObjectId | None,
    first: date | None,
    last: date | None,
    group_by: str,
    granularity: str = "day",
) -> UsageReport:
    """One owner's usage (`owner_id`), or everyone's for administrators (None), read from the
    rollups: the cost grows with days × keys, not with events (one read)."""
    first_day, last_day = period(first, last)
    when = {"day": {"$gte": first_day, "$lte": last_day}}
    if owner_id is not None:
        found = owned(UsageRollup, owner_id).find(when, projection_model=RollupDay)
    else:
        found = UsageRollup.find(when, projection_model=RollupDay)
    joined: dict[Any, dict[str, int]] = {}
    for day in await found.to_list():
        for key, measures in day.rows(group_by, granularity):
            sums = joined.setdefault(key, dict.fromkeys(ROLLUP_MEASURES, 0))
            for name in ROLLUP_MEASURES:
                sums[name] += getattr(measures, name)
    totals = {name: sum(row[name] for row in joined.values()) for name in ROLLUP_MEASURES}
    return UsageReport(
        group_by=group_by,
        granularity=granularity,
        from_=first_day,
        to=last_day,
        items=[
            UsageRow(key=_key(key), **_usage_totals(joined[key]).model_dump())
            for key in _sorted_keys(joined)
        ],
        totals=_usage_totals(totals),
    )


async def generation_report(user: User, group_by: str) -> GenerationReport:
    joined = await run_measures(
        Generation,
        pipelines.generation_pipelines(
            owned(Generation, user).match(), group_by, one_group=one_group()
        ),
        pipelines.GENERATION_MEASURES,
    )
    items = []
    for key in _sorted_keys(joined):
        row = joined[key]
        timed = row["timed"]
        items.append(
            GenerationRow(
                key=_key(key),
                count=row["count"],
                succeeded=row["succeeded"],
                failed=row["failed"],
                avg_duration_ms=round(row["duration_ms"] / timed, 3) if timed else None,
            )
        )
    return GenerationReport(items=items)


async def _sum(model: type[OwnedDocument], user: User, field: str) -> int:
    rows = await model.aggregate(pipelines.total_of(owned(model, user).match(), field)).to_list()
    return rows[0]["value"] if rows else 0


async def _counts(model: type[OwnedDocument], user: User, field: str) -> dict[str, int]:
    rows = await model.aggregate(pipelines.count_by(owned(model, user).match(), field)).to_list()
    return {str(row["_id"]): row["value"] for row in rows}


async def summary(user: User) -> Summary:
    return Summary(
        conversations=await owned(Conversation, user).count(),
        messages=await _sum(Conversation, user, "message_count"),
        sites=await owned(Site, user).count(),
        site_versions=await _sum(Site, user, "current_version"),
        files=await owned(StoredFile, user).count(),
        file_bytes=await _sum(StoredFile, user, "size"),
        generations=await _counts(Generation, user, "status"),
        workflows=await _counts(Workflow, user, "status"),
        drawings=await owned(Drawing, user).count(),
        stories=await owned(Story, user).count(),
        favorite_stories=await owned(Story, user).count({"is_favorite": True}),
    )

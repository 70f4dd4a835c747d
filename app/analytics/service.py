"""Analytics: run the pipelines of `pipelines.py` and shape their rows (averages divided here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bson import ObjectId

from app import engine
from app.analytics import pipelines
from app.errors import Unprocessable
from app.money import to_usd
from documents.conversation import Conversation
from documents.drawing import Drawing
from documents.file import StoredFile
from documents.generation import Generation
from documents.site import Site
from documents.story import Story
from documents.usage import UsageEvent
from documents.user import User
from documents.workflow import Workflow

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
SUMMED = ("calls", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_micros")


def period(first: date | None, last: date | None) -> tuple[str, str]:
    """Validated [from, to] as `day` strings; the last 30 days by default."""
    today = datetime.now(UTC).date()
    last = last or (
        today if first is None else min(today, first + timedelta(days=DEFAULT_PERIOD_DAYS - 1))
    )
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise Unprocessable(f"The period is longer than {MAX_PERIOD_DAYS} days.", field="query.to")
    return first.isoformat(), last.isoformat()


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def one_group() -> bool:
    """Whether the engine computes every accumulator of one `$group` (`app/engine.py`)."""
    return engine.profile().multi_accumulator_group


async def run_measures(
    model: type, named: dict[str, list[dict[str, Any]]], measures: Iterable[str]
) -> dict[Any, dict[str, int]]:
    """Run the report's pipelines (one, or one per measure) and join their rows by group key."""
    collection = model.get_pymongo_collection()
    names = list(measures)
    joined: dict[Any, dict[str, int]] = {}
    for name, pipeline in named.items():
        cursor = await collection.aggregate(pipeline)
        async for row in cursor:
            sums = joined.setdefault(row["_id"], dict.fromkeys(names, 0))
            if name == pipelines.ALL_MEASURES:
                sums.update({measure: row[measure] for measure in names})
            else:
                sums[name] = row["value"]
    return joined


def _usage_row(sums: dict[str, int]) -> dict[str, Any]:
    row = {name: sums.get(name, 0) for name in SUMMED}
    row["cost_usd"] = to_usd(row["cost_micros"])
    calls = sums.get("calls", 0)
    row["avg_latency_ms"] = round(sums.get("latency_ms", 0) / calls, 3) if calls else None
    return row


async def usage_report(
    owner_id: ObjectId | None, first: date | None, last: date | None, group_by: str
) -> dict[str, Any]:
    first_day, last_day = period(first, last)
    joined = await run_measures(
        UsageEvent,
        pipelines.usage_pipelines(owner_id, first_day, last_day, group_by, one_group=one_group()),
        pipelines.USAGE_MEASURES,
    )
    keys = sorted(joined, key=lambda k: (k is None, str(k)))
    totals = {name: sum(row[name] for row in joined.values()) for name in pipelines.USAGE_MEASURES}
    return {
        "group_by": group_by,
        "from_": first_day,
        "to": last_day,
        "items": [{"key": _key(key), **_usage_row(joined[key])} for key in keys],
        "totals": _usage_row(totals),
    }


async def generation_report(user: User, group_by: str) -> dict[str, Any]:
    joined = await run_measures(
        Generation,
        pipelines.generation_pipelines(ObjectId(str(user.id)), group_by, one_group=one_group()),
        pipelines.GENERATION_MEASURES,
    )
    items = []
    for key in sorted(joined, key=lambda k: (k is None, str(k))):
        row = joined[key]
        items.append(
            {
                "key": _key(key),
                "count": row["count"],
                "succeeded": row["succeeded"],
                "failed": row["failed"],
                "avg_duration_ms": round(row["duration_ms"] / row["timed"], 3)
                if row["timed"]
                else None,
            }
        )
    return {"items": items}


async def _sum(model: type, owner: ObjectId, field: str) -> int:
    cursor = await model.get_pymongo_collection().aggregate(pipelines.total_of(owner, field))
    rows = await cursor.to_list()
    return rows[0]["value"] if rows else 0


async def _count(model: type, owner: ObjectId, **conditions: Any) -> int:
    return await model.get_pymongo_collection().count_documents({"owner_id": owner, **conditions})


async def _counts(model: type, owner: ObjectId, field: str) -> dict[str, int]:
    cursor = await model.get_pymongo_collection().aggregate(pipelines.count_by(owner, field))
    return {str(row["_id"]): row["value"] async for row in cursor}


async def summary(user: User) -> dict[str, Any]:
    owner = ObjectId(str(user.id))
    return {
        "conversations": await _count(Conversation, owner),
        "messages": await _sum(Conversation, owner, "message_count"),
        "sites": await _count(Site, owner),
        "site_versions": await _sum(Site, owner, "current_version"),
        "files": await _count(StoredFile, owner),
        "file_bytes": await _sum(StoredFile, owner, "size"),
        "generations": await _counts(Generation, owner, "status"),
        "workflows": await _counts(Workflow, owner, "status"),
        "drawings": await _count(Drawing, owner),
        "stories": await _count(Story, owner),
        "favorite_stories": await _count(Story, owner, is_favorite=True),
    }

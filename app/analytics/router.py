from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from bson import ObjectId
from fastapi import Query

from app.analytics import service
from app.analytics.schemas import GenerationReport, Summary, UsageReport
from app.auth.dependencies import Access, AdminUser, CurrentUser
from app.routing import AreaRouter

router = AreaRouter(prefix="/analytics", tags=["analytics"], access=Access("analytics"))
admin_router = AreaRouter(prefix="/admin/analytics", tags=["admin"])

From = Annotated[
    date | None,
    Query(alias="from", description="YYYY-MM-DD (UTC), default 29 days before `to`"),
]
To = Annotated[date | None, Query(description="YYYY-MM-DD (UTC), default today")]
UsageGroup = Literal["day", "model", "provider", "operation", "api_key"]
Granularity = Annotated[
    Literal["day", "week", "month"],
    Query(
        description="For `group_by=day`: one row per day, ISO week (2026-W48) or month (2026-11)"
    ),
]


@router.get("/usage", operation_id="analytics_usage", response_model=UsageReport)
async def usage(
    user: CurrentUser,
    from_: From = None,
    to: To = None,
    group_by: UsageGroup = "day",
    granularity: Granularity = "day",
):
    """Your usage in [from, to] (UTC days, at most 366), grouped; money exact to $0.000001."""
    return await service.usage_report(ObjectId(str(user.id)), from_, to, group_by, granularity)


@router.get("/summary", operation_id="analytics_summary", response_model=Summary)
async def summary(user: CurrentUser):
    return await service.summary(user)


@router.get("/generations", operation_id="analytics_generations", response_model=GenerationReport)
async def generations(user: CurrentUser, group_by: Literal["kind", "model", "status"] = "kind"):
    return await service.generation_report(user, group_by)


@admin_router.get("/usage", operation_id="admin_analytics_usage", response_model=UsageReport)
async def all_usage(
    _: AdminUser,
    from_: From = None,
    to: To = None,
    group_by: Literal[UsageGroup, "user"] = "day",  # type: ignore[valid-type]
    granularity: Granularity = "day",
):
    """Every user's usage (administrators only), also `group_by=user`."""
    return await service.usage_report(None, from_, to, group_by, granularity)

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from bson import ObjectId
from fastapi import APIRouter, Query

from app.analytics import service
from app.analytics.schemas import GenerationReport, Summary, UsageReport
from app.auth.dependencies import AdminUser, CurrentUser, require_area

router = APIRouter(
    prefix="/analytics", tags=["analytics"], dependencies=[require_area("analytics")]
)
admin_router = APIRouter(prefix="/admin/analytics", tags=["admin"])

From = Annotated[
    date | None, Query(alias="from", description="YYYY-MM-DD, default 30 days before `to`")
]
To = Annotated[date | None, Query(description="YYYY-MM-DD, default today (UTC)")]
UsageGroup = Literal["day", "model", "provider", "operation", "api_key"]


@router.get("/usage", response_model=UsageReport)
async def usage(user: CurrentUser, from_: From = None, to: To = None, group_by: UsageGroup = "day"):
    """Your usage events in [from, to] (at most 366 days), grouped; money exact to $0.000001."""
    return await service.usage_report(ObjectId(str(user.id)), from_, to, group_by)


@router.get("/summary", response_model=Summary)
async def summary(user: CurrentUser):
    return await service.summary(user)


@router.get("/generations", response_model=GenerationReport)
async def generations(user: CurrentUser, group_by: Literal["kind", "model", "status"] = "kind"):
    return await service.generation_report(user, group_by)


@admin_router.get("/usage", response_model=UsageReport)
async def all_usage(
    _: AdminUser,
    from_: From = None,
    to: To = None,
    group_by: Literal[UsageGroup, "user"] = "day",  # type: ignore[valid-type]
):
    """Every user's usage events (administrators only), also `group_by=user`."""
    return await service.usage_report(None, from_, to, group_by)

"""Aggregation pipelines as data: each function returns its stage list.

Usage reports do not scan events: they read the usage rollups (`app/usage/rollups.py`), which
are summed in Python. What stays here are the pipelines over documents that have no rollup.

Rules they keep (DESIGN.md): the first stage is a `$match` the caller hands in — the owner
scope's (`Scope.match`), or the admin report's period alone; only `$match $group($sum) $sort`;
they group fields stored at write time (`day`, `errors`, `succeeded`, `timed`, `cost_micros`),
and averages are divided in Python afterwards.

A report with several measures is one `$group` with one accumulator per measure where the
engine computes them all (`one_group=True`, MongoDB); where it computes only the first
(`app/engine/`), the portable form runs one small pipeline per measure (`measure_by`) and
the service joins the rows by key. Both forms are built here from the same measures, so they
cannot drift apart. The `mongosh/` scripts run the portable form.
"""

from __future__ import annotations

from typing import Any

Pipeline = list[dict[str, Any]]

GENERATION_GROUP_FIELDS = {"kind": "kind", "model": "model", "status": "status"}
GENERATION_MEASURES: dict[str, str | None] = {
    "count": None,
    "succeeded": "succeeded",
    "failed": "failed",
    "duration_ms": "duration_ms",
    "timed": "timed",
}


Match = dict[str, Any]


def in_period(first_day: str, last_day: str) -> dict[str, Any]:
    """The condition on the computed `day` for [first_day, last_day]."""
    return {"day": {"$gte": first_day, "$lte": last_day}}


def measure_by(match: Match, group_field: str | None, summed_field: str | None) -> Pipeline:
    """One measure per key: the sum of `summed_field` (or the count) per `group_field` value
    (or over everything when `group_field` is None)."""
    return [
        match,
        {
            "$group": {
                "_id": None if group_field is None else f"${group_field}",
                "value": {"$sum": 1 if summed_field is None else f"${summed_field}"},
            }
        },
        {"$sort": {"_id": 1}},
    ]


# The key of the one pipeline that computes every measure at once.
ALL_MEASURES = "*"


def measures_by(
    match: Match,
    group_field: str | None,
    measures: dict[str, str | None],
    *,
    one_group: bool,
) -> dict[str, Pipeline]:
    """Every measure per key: `{ALL_MEASURES: pipeline}` whose rows carry each measure by name
    (`one_group`), or `{measure: pipeline}` whose rows carry it as `value`."""
    if not one_group:
        return {name: measure_by(match, group_field, field) for name, field in measures.items()}
    accumulators = {
        name: {"$sum": 1 if field is None else f"${field}"} for name, field in measures.items()
    }
    group = {"_id": None if group_field is None else f"${group_field}", **accumulators}
    return {ALL_MEASURES: [match, {"$group": group}, {"$sort": {"_id": 1}}]}


def generation_pipelines(
    match: Match, group_by: str, *, one_group: bool = False
) -> dict[str, Pipeline]:
    return measures_by(
        match, GENERATION_GROUP_FIELDS[group_by], GENERATION_MEASURES, one_group=one_group
    )


def count_by(match: Match, field: str) -> Pipeline:
    """How many matching documents have each value of `field`."""
    return measure_by(match, field, None)


def total_of(match: Match, field: str) -> Pipeline:
    """The sum of `field` over the matching documents (one row, or none)."""
    return measure_by(match, None, field)

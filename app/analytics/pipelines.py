"""Aggregation pipelines as data: each function returns its stage list.

Rules they keep (DESIGN.md): the owner `$match` comes first (the admin pipeline has none); only
`$match $group($sum) $sort`; they group fields stored at write time (`day`, `errors`,
`succeeded`, `timed`, `cost_micros`), and averages are divided in Python afterwards.

Every `$group` has exactly one accumulator. FerretDB v1.24 computes only the first accumulator
of a `$group` (the others come back 0) and its `$unwind` drops the document's other fields, so
a report with several measures runs one small pipeline per measure (`measure_by`) and joins the
rows by key in Python. The `mongosh/` scripts run the same pipelines.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

Pipeline = list[dict[str, Any]]

USAGE_GROUP_FIELDS = {
    "day": "day",
    "model": "model",
    "provider": "provider",
    "operation": "operation",
    "api_key": "api_key_id",
    "user": "owner_id",
}
# measure name → the field it sums (None: count the documents)
USAGE_MEASURES: dict[str, str | None] = {
    "calls": None,
    "errors": "errors",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
    "cost_micros": "cost_micros",
    "latency_ms": "latency_ms",
}
GENERATION_GROUP_FIELDS = {"kind": "kind", "model": "model", "status": "status"}
GENERATION_MEASURES: dict[str, str | None] = {
    "count": None,
    "succeeded": "succeeded",
    "failed": "failed",
    "duration_ms": "duration_ms",
    "timed": "timed",
}


def owner_match(owner_id: ObjectId | None, **conditions: Any) -> dict[str, Any]:
    """The first stage: the owner (when there is one) before anything else."""
    return {"$match": conditions if owner_id is None else {"owner_id": owner_id, **conditions}}


def measure_by(
    match: dict[str, Any], group_field: str | None, summed_field: str | None
) -> Pipeline:
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


def usage_pipelines(
    owner_id: ObjectId | None, first_day: str, last_day: str, group_by: str
) -> dict[str, Pipeline]:
    """Usage events in [first_day, last_day] per `group_by` key: one pipeline per measure."""
    match = owner_match(owner_id, day={"$gte": first_day, "$lte": last_day})
    group_field = USAGE_GROUP_FIELDS[group_by]
    return {name: measure_by(match, group_field, field) for name, field in USAGE_MEASURES.items()}


def generation_pipelines(owner_id: ObjectId, group_by: str) -> dict[str, Pipeline]:
    match = owner_match(owner_id)
    group_field = GENERATION_GROUP_FIELDS[group_by]
    return {
        name: measure_by(match, group_field, field) for name, field in GENERATION_MEASURES.items()
    }


def count_by(owner_id: ObjectId, field: str) -> Pipeline:
    """How many of the owner's documents have each value of `field`."""
    return measure_by(owner_match(owner_id), field, None)


def total_of(owner_id: ObjectId, field: str) -> Pipeline:
    """The sum of `field` over all of the owner's documents (one row, or none)."""
    return measure_by(owner_match(owner_id), None, field)

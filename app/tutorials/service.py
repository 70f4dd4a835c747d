"""Tutorials: public reads with language selection, admin writes, and seeding from fixtures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import OperationFailure

from app.engine import is_unique_violation
from app.errors import Conflict, NotFound, Unprocessable
from app.tutorials.schemas import TutorialIn
from documents.base import utcnow
from documents.tutorial import Tutorial

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
WITHOUT_STEPS = {"steps": 0}


def tutorial_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What is stored for a tutorial: the fixture plus `total_steps` (derived, never sent) and
    the hash that tells an edited fixture from an unchanged one."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {
        **data,
        "thumbnail_url": data.get("thumbnail_url"),
        "total_steps": len(data["steps"]),
        "content_hash": hashlib.sha256(canonical.encode()).hexdigest(),
    }


def localised(raw: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """With `lang`, every {en, de} text becomes the string in that language."""
    if lang is None:
        return raw

    def pick(value: Any) -> Any:
        return value.get(lang) if isinstance(value, dict) else value

    out = {**raw, "subject": pick(raw["subject"]), "description": pick(raw["description"])}
    if "steps" in raw:
        out["steps"] = [{**s, "instruction": pick(s["instruction"])} for s in raw["steps"]]
    return out


async def list_tutorials(
    category: str | None, lang: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query: dict[str, Any] = {}
    if category:
        query["category"] = category
    if cursor:
        query["slug"] = {"$gt": cursor}
    rows = (
        await Tutorial.get_pymongo_collection()
        .find(query, WITHOUT_STEPS)
        .sort("slug", 1)
        .limit(limit + 1)
        .to_list()
    )
    next_cursor = rows[limit - 1]["slug"] if len(rows) > limit else None
    return [localised(r, lang) for r in rows[:limit]], next_cursor


async def get_tutorial(slug: str, lang: str | None) -> dict[str, Any]:
    raw = await Tutorial.get_pymongo_collection().find_one({"slug": slug})
    if raw is None:
        raise NotFound("No such tutorial.")
    return localised(raw, lang)


async def create_tutorial(body: TutorialIn) -> dict[str, Any]:
    now = utcnow()
    document = {
        **tutorial_fields(body.model_dump(exclude_none=True)),
        "created_at": now,
        "updated_at": now,
    }
    try:
        await Tutorial.get_pymongo_collection().insert_one(document)
    except OperationFailure as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict(f"A tutorial `{body.slug}` exists; PUT replaces it.") from exc
    return document


async def put_tutorial(slug: str, body: TutorialIn) -> tuple[dict[str, Any], bool]:
    """Create or replace; (tutorial, created).

    Replace the existing row in one findAndModify; when there is none, insert it. Of concurrent
    first PUTs exactly one insert wins (unique slug) and is the creation; the others replace the
    winner's row, as MongoDB's own upsert retry would, whatever code the engine reports the
    unique violation with."""
    if body.slug != slug:
        raise Unprocessable("The body's `slug` must match the path.", field="body.slug")
    now = utcnow()
    fields = tutorial_fields(body.model_dump(exclude_none=True))
    collection = Tutorial.get_pymongo_collection()
    for _attempt in range(3):
        before = await collection.find_one_and_update(
            {"slug": slug},
            {"$set": {**fields, "updated_at": now}},
            return_document=ReturnDocument.BEFORE,
        )
        if before is not None:
            return {**fields, "created_at": before["created_at"], "updated_at": now}, False
        try:
            await collection.insert_one({**fields, "created_at": now, "updated_at": now})
            return {**fields, "created_at": now, "updated_at": now}, True
        except OperationFailure as exc:
            if not is_unique_violation(exc):
                raise
    raise Conflict(f"The tutorial `{slug}` is being replaced concurrently; try again.")


# --- seeding ---------------------------------------------------------------------------------


class FixtureError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def load_fixtures(
    directory: Path = SEEDS / "tutorials",
    schema_path: Path = SEEDS / "tutorial.schema.json",
    progress: Callable[[Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Every fixture, validated. All problems are collected, each naming its file and field;
    any problem means nothing is returned (and so nothing is written)."""
    validator = Draft202012Validator(json.loads(schema_path.read_text()))
    problems: list[str] = []
    fixtures: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        if progress:
            progress(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: not valid JSON ({exc})")
            continue
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        for error in errors:
            where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
            problems.append(f"{path.name}: {where}: {error.message}")
        if errors:
            continue
        numbers = [step["number"] for step in data["steps"]]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(
                f"{path.name}: steps.number: steps must be numbered 1, 2, 3, … in order"
            )
            continue
        if data["slug"] in seen:
            problems.append(
                f"{path.name}: slug: `{data['slug']}` is also used by {seen[data['slug']]}"
            )
            continue
        seen[data["slug"]] = path.name
        fixtures.append(data)
    if problems:
        raise FixtureError(problems)
    return fixtures


async def seed_tutorials(fixtures: list[dict[str, Any]]) -> SeedReport:
    """Upsert by slug in one bulk write; fixtures whose content is unchanged are not written."""
    collection = Tutorial.get_pymongo_collection()
    existing = {
        raw["slug"]: raw.get("content_hash")
        async for raw in collection.find({}, {"slug": 1, "content_hash": 1})
    }
    report = SeedReport()
    operations = []
    now = utcnow()
    for data in fixtures:
        fields = tutorial_fields(data)
        slug = data["slug"]
        if existing.get(slug) == fields["content_hash"]:
            report.unchanged.append(slug)
            continue
        (report.updated if slug in existing else report.created).append(slug)
        operations.append(
            UpdateOne(
                {"slug": slug},
                {"$set": {**fields, "updated_at": now}, "$setOnInsert": {"created_at": now}},
                upsert=True,
            )
        )
    if operations:
        await collection.bulk_write(operations, ordered=True)
    return report

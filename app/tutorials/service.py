"""Tutorials: public reads with language selection, admin writes, and seeding from fixtures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beanie import BulkWriter, UpdateResponse
from jsonschema import Draft202012Validator

from app.engine import insert_unless_exists, retrying
from app.errors import Conflict, NotFound, Unprocessable
from app.pagination import CursorParams, Page
from app.tutorials.schemas import TutorialIn
from documents.base import utcnow
from documents.tutorial import Tutorial, TutorialCard, TutorialHash

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


# What a fixture or a PUT sets; the timestamps and the id are the database's.
CONTENT_FIELDS = {
    "slug",
    "category",
    "subject",
    "thumbnail_url",
    "description",
    "steps",
    "total_steps",
    "content_hash",
}


def tutorial_from(data: dict[str, Any]) -> Tutorial:
    """What is stored for a tutorial: the fixture plus `total_steps` (derived, never sent) and
    the hash that tells an edited fixture from an unchanged one."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Tutorial(
        **data,
        total_steps=len(data["steps"]),
        content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _content(tutorial: Tutorial) -> dict[str, Any]:
    """The stored form of a tutorial's content, for `$set`."""
    return tutorial.model_dump(include=CONTENT_FIELDS)


async def list_tutorials(category: str | None, params: CursorParams) -> Page[TutorialCard]:
    """By slug; the cursor is the last slug of the previous page."""
    query: dict[str, Any] = {}
    if category:
        query["category"] = category
    if params.cursor:
        query["slug"] = {"$gt": params.cursor}
    rows = (
        await Tutorial.find(query, projection_model=TutorialCard)
        .sort("slug")
        .limit(params.limit + 1)
        .to_list()
    )
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return Page(items=rows, next_cursor=rows[-1].slug if more else None)


async def get_tutorial(slug: str) -> Tutorial:
    tutorial = await Tutorial.find_one({"slug": slug})
    if tutorial is None:
        raise NotFound("No such tutorial.")
    return tutorial


async def tutorial_exists(slug: str) -> bool:
    return await Tutorial.find({"slug": slug}).limit(1).count() > 0


async def create_tutorial(body: TutorialIn) -> Tutorial:
    tutorial = tutorial_from(body.model_dump(exclude_none=True))
    if not await insert_unless_exists(tutorial):
        raise Conflict(f"A tutorial `{body.slug}` exists; PUT replaces it.")
    return tutorial


async def put_tutorial(slug: str, body: TutorialIn) -> tuple[Tutorial, bool]:
    """Create or replace; (tutorial, created).

    Replace the existing row in one findAndModify; when there is none, insert it. Of concurrent
    first PUTs exactly one insert wins (unique slug) and is the creation; the others replace the
    winner's row, as MongoDB's own upsert retry would, whatever code the engine reports the
    unique violation with."""
    if body.slug != slug:
        raise Unprocessable("The body's `slug` must match the path.", field="body.slug")
    now = utcnow()
    tutorial = tutorial_from(body.model_dump(exclude_none=True))
    tutorial.created_at = tutorial.updated_at = now
    for _attempt in range(3):
        replaced = await retrying(
            lambda: Tutorial.find_one({"slug": slug}).update(
                {"$set": {**_content(tutorial), "updated_at": now}},
                response_type=UpdateResponse.NEW_DOCUMENT,
            )
        )
        if replaced is not None:
            return replaced, False
        if await insert_unless_exists(tutorial):
            return tutorial, True
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
    existing = {
        card.slug: card.content_hash
        async for card in Tutorial.find({}, projection_model=TutorialHash)
    }
    report = SeedReport()
    now = utcnow()
    async with BulkWriter(object_class=Tutorial, ordered=True) as bulk:
        for data in fixtures:
            tutorial = tutorial_from(data)
            slug = data["slug"]
            if existing.get(slug) == tutorial.content_hash:
                report.unchanged.append(slug)
                continue
            (report.updated if slug in existing else report.created).append(slug)
            await Tutorial.find_one({"slug": slug}).update(
                {
                    "$set": {**_content(tutorial), "updated_at": now},
                    "$setOnInsert": {"created_at": now},
                },
                upsert=True,
                bulk_writer=bulk,
            )
    return report

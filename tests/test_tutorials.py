"""Tutorials: seeding from fixtures (idempotent, validated), public reads, admin writes."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from app.tutorials.service import SEEDS, FixtureError, load_fixtures
from documents.tutorial import Tutorial
from tests.factories import TestUser, register_user
from tests.racing import ROUNDS, Racers
from tests.test_cli import run_cli

API = "/api/v1/tutorials"


def test_shipped_fixtures_are_valid_and_varied() -> None:
    fixtures = load_fixtures()
    assert len(fixtures) >= 6
    assert len({f["category"] for f in fixtures}) >= 3
    for fixture in fixtures:
        assert 4 <= len(fixture["steps"]) <= 8
        for step in fixture["steps"]:
            assert step["instruction"]["en"] != step["instruction"]["de"]


async def test_seed_is_idempotent_and_updates_exactly_the_edited_tutorial(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "tutorials"
    shutil.copytree(SEEDS / "tutorials", folder)
    first = await run_cli(settings, "seed", "--dir", str(folder))
    assert first.returncode == 0, first.stderr
    second = await run_cli(settings, "seed", "--dir", str(folder))
    assert second.returncode == 0
    assert "0 created, 0 updated" in second.stderr
    cat = folder / "cat.json"
    data = json.loads(cat.read_text())
    data["steps"][0]["instruction"]["en"] = "Draw a big round circle for the head."
    cat.write_text(json.dumps(data))
    third = await run_cli(settings, "seed", "--dir", str(folder))
    assert "0 created, 1 updated" in third.stderr and "updated  sitting-cat" in third.stderr


async def test_a_broken_fixture_names_file_and_field_and_writes_nothing(
    settings: Settings, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    folder = tmp_path / "tutorials"
    shutil.copytree(SEEDS / "tutorials", folder)
    good = json.loads((folder / "fish.json").read_text())
    good["slug"] = "brand-new-fish"
    (folder / "new.json").write_text(json.dumps(good))
    broken = json.loads((folder / "car.json").read_text())
    broken["steps"][2]["instruction"].pop("de")
    (folder / "car.json").write_text(json.dumps(broken))
    with pytest.raises(FixtureError) as caught:
        load_fixtures(folder)
    assert any(
        p.startswith("car.json: steps.2.instruction:") and "'de'" in p
        for p in caught.value.problems
    )
    result = await run_cli(settings, "seed", "--dir", str(folder))
    assert (
        result.returncode == 1
        and "car.json" in result.stderr
        and "nothing was written" in result.stderr
    )
    assert (await client.get(f"{API}/brand-new-fish")).status_code == 404
    check = await run_cli(settings, "seed", "--check", "--dir", str(folder))
    assert check.returncode == 1


async def test_public_reads_with_language(
    client: httpx.AsyncClient, seeded_tutorials: list[str]
) -> None:
    listed = await client.get(API, params={"category": "vehicles"})
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {i["category"] for i in items} == {"vehicles"} and len(items) >= 2
    rocket = (await client.get(f"{API}/space-rocket")).json()
    assert rocket["total_steps"] == len(rocket["steps"]) == 7
    assert rocket["subject"] == {"en": "Space rocket", "de": "Weltraumrakete"}
    german = (await client.get(f"{API}/space-rocket", params={"lang": "de"})).json()
    assert german["subject"] == "Weltraumrakete" and isinstance(
        german["steps"][0]["instruction"], str
    )
    assert (await client.get(f"{API}/space-rocket", params={"lang": "fr"})).status_code == 422
    assert (await client.get(f"{API}/no-such")).status_code == 404
    first = (await client.get(API, params={"limit": 3})).json()
    rest = (await client.get(API, params={"cursor": first["next_cursor"], "limit": 100})).json()
    slugs = [i["slug"] for i in first["items"] + rest["items"]]
    assert slugs == sorted(slugs) and set(seeded_tutorials) <= set(slugs)


async def test_writes_are_for_admins(
    client: httpx.AsyncClient, settings: Settings, alice: TestUser, bob: TestUser
) -> None:
    body = {
        "slug": "paper-boat",
        "category": "vehicles",
        "subject": {"en": "Paper boat", "de": "Papierboot"},
        "description": {"en": "A little boat.", "de": "Ein kleines Boot."},
        "steps": [
            {"number": 1, "instruction": {"en": "Draw a line.", "de": "Male eine Linie."}},
            {"number": 2, "instruction": {"en": "Add a sail.", "de": "Male ein Segel."}},
        ],
    }
    assert (await client.post(API, json=body)).status_code == 401
    assert (await client.post(API, json=body, headers=bob.headers)).status_code == 403
    await run_cli(settings, "users", "promote", alice.email)
    created = await client.post(API, json=body, headers=alice.headers)
    assert created.status_code == 201 and created.json()["total_steps"] == 2
    assert (await client.post(API, json=body, headers=alice.headers)).status_code == 409
    body["steps"].append({"number": 3, "instruction": {"en": "Add waves.", "de": "Male Wellen."}})
    replaced = await client.put(f"{API}/paper-boat", json=body, headers=alice.headers)
    assert replaced.status_code == 200 and replaced.json()["total_steps"] == 3
    body["steps"][2]["number"] = 5
    assert (
        await client.put(f"{API}/paper-boat", json=body, headers=alice.headers)
    ).status_code == 422
    assert (
        await client.put(
            f"{API}/other-slug", json={**body, "steps": body["steps"][:2]}, headers=alice.headers
        )
    ).status_code == 422


async def test_concurrent_first_puts_create_exactly_once(
    client: httpx.AsyncClient, racers: Racers, settings: Settings
) -> None:
    """`ROUNDS` rounds of 10 concurrent first PUTs of a new slug, over separate app processes
    and connections: no 5xx, exactly one 201 per round, the others replace it (200)."""
    admin = await register_user(client, name="TutorialAdmin")
    await run_cli(settings, "users", "promote", admin.email)
    for round_ in range(ROUNDS):
        slug = f"race-{round_}-{uuid.uuid4().hex[:8]}"
        body = {
            "slug": slug,
            "category": "races",
            "subject": {"en": "Race", "de": "Rennen"},
            "description": {"en": "Who wins?", "de": "Wer gewinnt?"},
            "steps": [{"number": 1, "instruction": {"en": "Go.", "de": "Los."}}],
        }
        responses = await racers.race(
            [
                lambda http, slug=slug, body=body: http.put(
                    f"{API}/{slug}", json=body, headers=admin.headers
                )
            ]
            * 10
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 9 + [201], [r.text for r in responses]
        found = await Tutorial.get_pymongo_collection().count_documents({"slug": slug})
        assert found == 1

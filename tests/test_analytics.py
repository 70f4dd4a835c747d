"""Analytics pipelines against the real server with known data and hand-computed results, and
the mongosh scripts agreeing with the API."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.factories import TestUser, make_api_key, register_user
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
MONGOSH = ROOT / ".tools" / "bin" / "mongosh"


def event(day: str, model: str, provider: str, operation: str, **extra) -> dict:
    return {
        "provider": provider,
        "model": model,
        "operation": operation,
        "occurred_at": f"{day}T12:00:00Z",
        **extra,
    }


# (day, model, provider, operation, prompt, completion, cost, latency, status)
EVENTS = [
    ("2026-03-01", "gpt-a", "openai", "chat", 100, 50, "0.010000", 200, "ok"),
    ("2026-03-01", "gpt-a", "openai", "chat", 10, 5, "0.000001", 400, "error"),
    ("2026-03-02", "claude-b", "anthropic", "code", 1000, 500, "0.250000", 1000, "ok"),
    ("2026-03-03", "gpt-a", "openai", "image", 0, 0, "0.040000", 3000, "ok"),
]


@pytest.fixture
async def known_usage(client: httpx.AsyncClient) -> tuple[TestUser, str]:
    user = await register_user(client, name="Analyst")
    key = await make_api_key(client, user, ["usage:write", "usage:read"])
    for i, (
        day,
        model,
        provider,
        operation,
        prompt,
        completion,
        cost,
        latency,
        status,
    ) in enumerate(EVENTS):
        headers = {"X-API-Key": key} if i == 0 else user.headers
        response = await client.post(
            "/api/v1/usage",
            json=event(
                day,
                model,
                provider,
                operation,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=cost,
                latency_ms=latency,
                status=status,
            ),
            headers=headers,
        )
        assert response.status_code == 201, response.text
    # Someone else's events on the same days must never change the numbers.
    other = await register_user(client, name="Other")
    await client.post(
        "/api/v1/usage",
        json=event("2026-03-01", "gpt-a", "openai", "chat", cost_usd=5),
        headers=other.headers,
    )
    return user, key


async def report(client: httpx.AsyncClient, user: TestUser, group_by: str) -> dict:
    response = await client.get(
        "/api/v1/analytics/usage",
        params={"from": "2026-03-01", "to": "2026-03-31", "group_by": group_by},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_usage_by_day(client: httpx.AsyncClient, known_usage) -> None:
    user, _ = known_usage
    body = await report(client, user, "day")
    assert body["from"] == "2026-03-01" and body["to"] == "2026-03-31"
    rows = {row["key"]: row for row in body["items"]}
    assert list(rows) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert rows["2026-03-01"] == {
        "key": "2026-03-01",
        "calls": 2,
        "errors": 1,
        "prompt_tokens": 110,
        "completion_tokens": 55,
        "total_tokens": 165,
        "cost_micros": 10001,
        "cost_usd": 0.010001,
        "avg_latency_ms": 300.0,
    }
    assert body["totals"] == {
        "calls": 4,
        "errors": 1,
        "prompt_tokens": 1110,
        "completion_tokens": 555,
        "total_tokens": 1665,
        "cost_micros": 300001,
        "cost_usd": 0.300001,
        "avg_latency_ms": 1150.0,
    }


async def test_usage_by_model_provider_operation_and_key(
    client: httpx.AsyncClient, known_usage
) -> None:
    user, _ = known_usage
    by_model = {r["key"]: r for r in (await report(client, user, "model"))["items"]}
    assert by_model["gpt-a"]["calls"] == 3 and by_model["gpt-a"]["cost_micros"] == 50001
    assert by_model["gpt-a"]["avg_latency_ms"] == 1200.0
    assert by_model["claude-b"]["total_tokens"] == 1500
    by_provider = {r["key"]: r["calls"] for r in (await report(client, user, "provider"))["items"]}
    assert by_provider == {"anthropic": 1, "openai": 3}
    by_operation = {
        r["key"]: r["cost_usd"] for r in (await report(client, user, "operation"))["items"]
    }
    assert by_operation == {"chat": 0.010001, "code": 0.25, "image": 0.04}
    by_key = {r["key"]: r["calls"] for r in (await report(client, user, "api_key"))["items"]}
    assert sorted(by_key.values()) == [1, 3] and None in by_key


async def test_period_and_group_by_are_validated(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    for params in (
        {"from": "2026-03-10", "to": "2026-03-01"},
        {"from": "2025-01-01", "to": "2026-03-01"},
        {"from": "yesterday"},
        {"group_by": "user"},
        {"group_by": "colour"},
    ):
        response = await client.get("/api/v1/analytics/usage", params=params, headers=alice.headers)
        assert response.status_code == 422, params
    ok = await client.get(
        "/api/v1/analytics/usage",
        params={"from": "2025-03-01", "to": "2026-03-01"},
        headers=alice.headers,
    )
    assert ok.status_code == 200


async def test_admin_report_is_for_admins(
    client: httpx.AsyncClient, settings: Settings, known_usage
) -> None:
    user, _ = known_usage
    params = {"from": "2026-03-01", "to": "2026-03-31", "group_by": "user"}
    assert (
        await client.get("/api/v1/admin/analytics/usage", params=params, headers=user.headers)
    ).status_code == 403
    admin = await register_user(client, name="Admin")
    await run_cli(settings, "users", "promote", admin.email)
    everyone = await client.get(
        "/api/v1/admin/analytics/usage", params=params, headers=admin.headers
    )
    assert everyone.status_code == 200
    rows = {r["key"]: r for r in everyone.json()["items"]}
    assert rows[user.id]["calls"] == 4 and rows[user.id]["cost_micros"] == 300001
    assert everyone.json()["totals"]["calls"] >= 5


async def test_messages_and_generations_with_usage_count_once(client: httpx.AsyncClient) -> None:
    user = await register_user(client, name="Counter")
    conversation = (
        await client.post("/api/v1/conversations", json={}, headers=user.headers)
    ).json()
    await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={
            "role": "assistant",
            "content": "hi",
            "model": "gpt-a",
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        },
        headers=user.headers,
    )
    generation = (
        await client.post(
            "/api/v1/generations",
            json={"kind": "ui", "prompt": "p", "model": "gpt-b"},
            headers=user.headers,
        )
    ).json()
    await client.patch(
        f"/api/v1/generations/{generation['id']}", json={"status": "running"}, headers=user.headers
    )
    done = {
        "status": "succeeded",
        "usage": {"prompt_tokens": 20, "completion_tokens": 30, "cost_usd": 0.002},
    }
    for _ in range(3):
        await client.patch(
            f"/api/v1/generations/{generation['id']}", json=done, headers=user.headers
        )
    body = (
        await client.get(
            "/api/v1/analytics/usage", params={"group_by": "model"}, headers=user.headers
        )
    ).json()
    rows = {r["key"]: r for r in body["items"]}
    assert rows["gpt-a"]["calls"] == 1 and rows["gpt-a"]["total_tokens"] == 10
    assert (
        rows["gpt-b"]["calls"] == 1
        and rows["gpt-b"]["total_tokens"] == 50
        and rows["gpt-b"]["cost_micros"] == 2000
    )


async def test_generation_report_and_summary(client: httpx.AsyncClient) -> None:
    user = await register_user(client, name="Maker")
    outcomes = [
        ("ui", "succeeded", 100),
        ("ui", "failed", 300),
        ("image", "succeeded", 50),
        ("ui", None, None),
    ]
    for kind, final, duration in outcomes:
        gid = (
            await client.post(
                "/api/v1/generations", json={"kind": kind, "prompt": "p"}, headers=user.headers
            )
        ).json()["id"]
        if final:
            await client.patch(
                f"/api/v1/generations/{gid}", json={"status": "running"}, headers=user.headers
            )
            await client.patch(
                f"/api/v1/generations/{gid}",
                json={"status": final, "duration_ms": duration},
                headers=user.headers,
            )
    body = (
        await client.get(
            "/api/v1/analytics/generations", params={"group_by": "kind"}, headers=user.headers
        )
    ).json()
    rows = {r["key"]: r for r in body["items"]}
    assert rows["ui"] == {
        "key": "ui",
        "count": 3,
        "succeeded": 1,
        "failed": 1,
        "avg_duration_ms": 200.0,
    }
    assert rows["image"] == {
        "key": "image",
        "count": 1,
        "succeeded": 1,
        "failed": 0,
        "avg_duration_ms": 50.0,
    }
    by_status = {
        r["key"]: r["count"]
        for r in (
            await client.get(
                "/api/v1/analytics/generations", params={"group_by": "status"}, headers=user.headers
            )
        ).json()["items"]
    }
    assert by_status == {"failed": 1, "queued": 1, "succeeded": 2}
    conversation = (
        await client.post("/api/v1/conversations", json={}, headers=user.headers)
    ).json()
    for text in ("a", "b", "c"):
        await client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"role": "user", "content": text},
            headers=user.headers,
        )
    await client.post(
        "/api/v1/sites",
        json={"title": "s", "files": [{"path": "index.html", "content": "x"}]},
        headers=user.headers,
    )
    await client.post("/api/v1/files", files={"file": ("f.bin", b"12345")}, headers=user.headers)
    summary = (await client.get("/api/v1/analytics/summary", headers=user.headers)).json()
    assert summary == {
        "conversations": 1,
        "messages": 3,
        "sites": 1,
        "site_versions": 1,
        "files": 1,
        "file_bytes": 5,
        "generations": {"failed": 1, "queued": 1, "succeeded": 2},
        "workflows": {},
        "drawings": 0,
        "stories": 0,
        "favorite_stories": 0,
    }


async def mongosh(settings: Settings, script: str, **params) -> list[dict]:
    """The script's rows, as its JSON output."""
    stdout = await mongosh_output(settings, script, format="json", **params)
    return json.loads(stdout.strip().splitlines()[-1])


async def mongosh_output(settings: Settings, script: str, **params) -> str:
    """What the script prints, run on this test run's database with `params` as variables."""
    assignments = ", ".join(
        f"{name}={json.dumps(value)}"
        for name, value in {"dbName": settings.mongodb_db, **params}.items()
    )
    process = await asyncio.create_subprocess_exec(
        str(MONGOSH),
        "--quiet",
        settings.mongodb_url or "",
        "--eval",
        f"var {assignments}",
        str(ROOT / "mongosh" / script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_mongosh_scripts_agree_with_the_api(
    client: httpx.AsyncClient, settings: Settings, known_usage
) -> None:
    user, _ = known_usage
    costs = await mongosh(
        settings, "cost_by_model.js", **{"from": "2026-03-01", "to": "2026-03-31", "owner": user.id}
    )
    api = {r["key"]: r for r in (await report(client, user, "model"))["items"]}
    assert {r["model"]: (r["calls"], r["cost_micros"], r["total_tokens"]) for r in costs} == {
        key: (row["calls"], row["cost_micros"], row["total_tokens"]) for key, row in api.items()
    }
    assert {r["model"]: r["cost_usd"] for r in costs}["gpt-a"] == "0.050001"

    active = await mongosh(
        settings, "daily_active_users.js", **{"from": "2026-03-01", "to": "2026-03-03"}
    )
    admin = await register_user(client, name="Admin")
    await run_cli(settings, "users", "promote", admin.email)
    for row in active:
        per_user = await client.get(
            "/api/v1/admin/analytics/usage",
            params={"from": row["day"], "to": row["day"], "group_by": "user"},
            headers=admin.headers,
        )
        assert row["active_users"] == len(per_user.json()["items"]) >= 1
    assert [row["day"] for row in active] == ["2026-03-01", "2026-03-02", "2026-03-03"]

    conversation = (
        await client.post("/api/v1/conversations", json={"title": "chatty"}, headers=user.headers)
    ).json()
    for i in range(4):
        await client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"role": "user", "content": str(i)},
            headers=user.headers,
        )
    top = await mongosh(settings, "top_conversations.js", owner=user.id, limit=5)
    api_conversation = (
        await client.get(f"/api/v1/conversations/{conversation['id']}", headers=user.headers)
    ).json()
    assert (
        top[0]["id"] == conversation["id"]
        and top[0]["messages"] == api_conversation["message_count"] == 4
    )

    for kind, final in (
        ("ui", "succeeded"),
        ("ui", "failed"),
        ("ui", "failed"),
        ("story", "succeeded"),
    ):
        gid = (
            await client.post(
                "/api/v1/generations", json={"kind": kind, "prompt": "p"}, headers=user.headers
            )
        ).json()["id"]
        await client.patch(
            f"/api/v1/generations/{gid}", json={"status": "running"}, headers=user.headers
        )
        await client.patch(
            f"/api/v1/generations/{gid}", json={"status": final}, headers=user.headers
        )
    rates = {
        r["kind"]: r for r in await mongosh(settings, "generation_failure_rate.js", owner=user.id)
    }
    api_rows = {
        r["key"]: r
        for r in (await client.get("/api/v1/analytics/generations", headers=user.headers)).json()[
            "items"
        ]
    }
    for kind, row in api_rows.items():
        assert (rates[kind]["count"], rates[kind]["succeeded"], rates[kind]["failed"]) == (
            row["count"],
            row["succeeded"],
            row["failed"],
        )
    assert rates["ui"]["failure_rate"] == round(2 / 3, 4) and rates["story"]["failure_rate"] == 0


async def test_one_period_rule_for_the_api_and_the_mongosh_scripts(
    client: httpx.AsyncClient, settings: Settings, alice: TestUser
) -> None:
    """`to` defaults to today, `from` to 29 days before `to` — with `from` alone the period runs
    to today, not 29 days past `from` — the same in the API and in mongosh."""
    today = datetime.now(UTC).date()
    url = "/api/v1/analytics/usage"
    plain = (await client.get(url, headers=alice.headers)).json()
    assert (plain["from"], plain["to"]) == (str(today - timedelta(days=29)), str(today))
    start = str(today - timedelta(days=40))
    only_from = (await client.get(url, params={"from": start}, headers=alice.headers)).json()
    assert (only_from["from"], only_from["to"]) == (start, str(today))
    outputs = [
        (await mongosh_output(settings, "cost_by_model.js", **params)).splitlines()[0]
        for params in ({}, {"from": start})
    ]
    assert outputs == [
        f"Cost by model, {plain['from']} to {plain['to']}",
        f"Cost by model, {start} to {today}",
    ]

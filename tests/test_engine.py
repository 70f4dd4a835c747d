"""The engine module: the profile settled at connect, one test for unique violations on every
engine, `genstore doctor` and its JSON twin for administrators."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo.errors import BulkWriteError, OperationFailure

from app import database, engine
from app.engine import contention
from app.settings import Settings
from tests.factories import TestUser, register_user
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent

FERRETDB_V1 = {"version": "7.0.42", "ferretdbVersion": "v1.24.2"}
FERRETDB_V2 = {"version": "7.0.77", "ferretdb": {"version": "v2.5.0"}}
MONGODB = {"version": "8.0.4", "gitVersion": "bf6c1f5"}


def test_profiles_from_build_info() -> None:
    v1 = engine.profile_from(FERRETDB_V1, {"maxWireVersion": 21})
    assert (v1.name, v1.version, v1.isolated_updates, v1.multi_accumulator_group) == (
        "FerretDB",
        "v1.24.2",
        False,
        False,
    )
    assert engine.pool_size(v1, None) == 1 and engine.pool_size(v1, 8) == 8
    v2 = engine.profile_from(FERRETDB_V2, {"maxWireVersion": 21})
    assert v2.isolated_updates and v2.find_and_modify_projection and not v2.transactions
    replica = engine.profile_from(MONGODB, {"maxWireVersion": 25, "setName": "rs0"})
    assert replica.name == "MongoDB" and replica.transactions and replica.ttl_indexes
    assert engine.pool_size(replica, None) is None  # the driver's default
    standalone = engine.profile_from(MONGODB, {"maxWireVersion": 25})
    assert not standalone.transactions


async def test_the_profile_in_use_is_what_the_server_says(app: FastAPI) -> None:
    connection = database.current()
    asked = engine.profile_from(
        await connection.client.admin.command("buildInfo"),
        await connection.client.admin.command("hello"),
    )
    assert engine.profile() == asked == connection.engine
    expected_pool = 1 if not asked.isolated_updates else 100
    assert connection.client.options.pool_options.max_pool_size == expected_pool


async def test_unique_violations_are_recognised_whatever_the_command(app: FastAPI) -> None:
    collection = database.get_db()["engine_probe"]
    await collection.drop()
    await collection.create_index("k", unique=True)
    await collection.insert_many([{"k": 1, "x": 1}, {"k": 2, "x": 2}])
    attempts = {
        "insert": collection.insert_one({"k": 1}),
        "update": collection.update_one({"k": 2}, {"$set": {"k": 1}}),
        "upsert": collection.update_one({"x": 3}, {"$set": {"k": 1}}, upsert=True),
        "findAndModify": collection.find_one_and_update({"x": 4}, {"$set": {"k": 1}}, upsert=True),
    }
    for command, attempt in attempts.items():
        with pytest.raises(OperationFailure) as raised:
            await attempt
        assert engine.is_unique_violation(raised.value), (command, raised.value.code)
    await collection.drop()
    # What PostgreSQL-backed engines answer, and what must not count as a duplicate.
    exclusion = OperationFailure(
        "conflicting key value violates exclusion constraint", code=1, details={}
    )
    assert engine.is_unique_violation(exclusion)
    assert not engine.is_unique_violation(OperationFailure("bad value", code=1, details={}))
    assert not engine.is_unique_violation(OperationFailure("E11000-ish", code=2, details={}))


def test_only_the_engine_modules_name_an_engine() -> None:
    """FerretDB's workarounds live behind the engine profile and nowhere else."""
    found = subprocess.run(
        ["grep", "-ril", "ferretdb", "app/"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert found
    assert all(p == "app/embedded_server.py" or p.startswith("app/engine/") for p in found)


async def test_doctor_reports_engine_indexes_and_migrations(
    app: FastAPI, settings: Settings
) -> None:
    assert (await run_cli(settings, "migrate")).returncode == 0
    healthy = await run_cli(settings, "doctor")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    profile = engine.profile()
    assert f"engine      {profile.name} {profile.version}" in healthy.stdout
    assert "healthy" in healthy.stdout and "missing" not in healthy.stdout
    report = json.loads((await run_cli(settings, "doctor", "--json")).stdout)
    assert report["engine"]["pool_size"] == (database.current().pool_size or 100)
    assert report["healthy"] is True
    users = database.get_db()["users"]
    await users.drop_index("email_unique")
    await users.create_index("name", name="stray_name")
    try:
        broken = await run_cli(settings, "doctor", "--json")
        assert broken.returncode == 1
        indexes = json.loads(broken.stdout)["indexes"]
        states = {(i["collection"], i["name"]): i["state"] for i in indexes}
        assert states[("users", "email_unique")] == "missing"
        assert states[("users", "stray_name")] == "unexpected"
    finally:
        await users.drop_index("stray_name")
        await database.ensure_indexes()


async def test_admin_engine_is_for_administrators(
    client: httpx.AsyncClient, settings: Settings, alice: TestUser
) -> None:
    assert (await client.get("/api/v1/admin/engine")).status_code == 401
    assert (await client.get("/api/v1/admin/engine", headers=alice.headers)).status_code == 403
    admin = await register_user(client, name="EngineAdmin")
    await run_cli(settings, "users", "promote", admin.email)
    response = await client.get("/api/v1/admin/engine", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["engine"]["name"] == engine.profile().name
    assert body["engine"]["capabilities"]["isolated_concurrent_updates"] == (
        engine.profile().isolated_updates
    )
    assert {"users", "conversations"} <= {c["collection"] for c in body["collections"]}


# --- transient answers under contention ------------------------------------------------------

DEADLOCK_IN_BULK = 16908292  # what DocumentDB puts in a bulk write's row for SQLSTATE 40P01


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (
            OperationFailure("WriteConflict error", 112, {"errmsg": "WriteConflict"}),
            "write_conflict",
        ),
        (OperationFailure("lock timeout", 24, {}), "lock_timeout"),
        (OperationFailure("lock busy", 46, {}), "lock_busy"),
        (OperationFailure("deadlock detected", 1, {"errmsg": "deadlock detected"}), "deadlock"),
        (
            OperationFailure("could not serialize access due to concurrent update", 1, {}),
            "serialization",
        ),
        (OperationFailure("canceling statement due to lock timeout", 1, {}), "lock_timeout"),
        (
            OperationFailure("x", 251, {"errorLabels": ["TransientTransactionError"]}),
            "transient_label",
        ),
        (OperationFailure("x", 91, {"errorLabels": ["RetryableWriteError"]}), "retryable_label"),
        (
            BulkWriteError(
                {
                    "writeErrors": [
                        {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"},
                        {"index": 1, "code": DEADLOCK_IN_BULK, "errmsg": "deadlock detected"},
                    ]
                }
            ),
            "deadlock",
        ),
        (OperationFailure("E11000 duplicate key", 11000, {}), None),
        (OperationFailure("conflicting key value violates exclusion constraint", 1, {}), None),
        (OperationFailure("bad value", 2, {}), None),
        (BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000"}]}), None),
    ],
)
def test_transient_answers_are_classified(answer: OperationFailure, kind: str | None) -> None:
    assert engine.transient_kind(answer) == kind


def test_sqlstates_are_packed_as_postgresql_does() -> None:
    assert contention.sqlstate("40P01") == DEADLOCK_IN_BULK
    assert contention.sqlstate("00000") == 0


def test_backoff_is_bounded_and_jittered() -> None:
    waits = [
        contention.backoff(attempt) for attempt in range(contention.ATTEMPTS) for _ in range(50)
    ]
    assert all(0 <= wait <= contention.MAX_DELAY_S for wait in waits)
    assert len(set(waits)) > len(waits) // 2  # jitter: the waits differ


def transient_count(kind: str, outcome: str) -> float:
    labels = {"engine": engine.profile().name, "kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("db_transient_errors_total", labels) or 0.0


USAGE = {"provider": "openai", "model": "gpt-x", "operation": "chat", "prompt_tokens": 3}


async def test_a_transient_answer_is_retried(client: httpx.AsyncClient, alice: TestUser) -> None:
    retried = transient_count("deadlock", "retried")
    with engine.forced_transient(3):
        created = await client.post(
            "/api/v1/usage", json={**USAGE, "request_id": "forced-1"}, headers=alice.headers
        )
    assert created.status_code == 201, created.text
    assert transient_count("deadlock", "retried") == retried + 3
    again = await client.post(
        "/api/v1/usage", json={**USAGE, "request_id": "forced-1"}, headers=alice.headers
    )
    assert again.status_code == 200


async def test_a_persisting_transient_answer_is_a_503_that_changes_nothing(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    exhausted = transient_count("write_conflict", "exhausted")
    with engine.forced_transient(1000, "write_conflict"):
        busy = await client.post(
            "/api/v1/usage", json={**USAGE, "request_id": "forced-2"}, headers=alice.headers
        )
        email = f"busy-{alice.email}"
        refused = await client.post(
            "/api/v1/auth/register", json={"email": email, "password": "a-long-password"}
        )
    for answer in (busy, refused):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["status"] == 503
    assert transient_count("write_conflict", "exhausted") == exhausted + 2
    # Nothing was written: the event is new and the email free.
    created = await client.post(
        "/api/v1/usage", json={**USAGE, "request_id": "forced-2"}, headers=alice.headers
    )
    assert created.status_code == 201
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "a-long-password"}
    )
    assert registered.status_code == 201

"""Property-based fuzzing of every operation in /openapi.json against a real server: no 5xx,
and every documented response conforms to its schema."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.embedded_server import free_port
from app.settings import Settings
from tests.servers import server_command, server_env

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))


@pytest.fixture(scope="session")
def fuzz_target(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    """A uvicorn process on the test database, and a signed-in user with data of each kind."""
    port = free_port()
    process = subprocess.Popen(server_command(port), env=server_env(settings))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
        requests.post(
            f"{base}/api/v1/auth/register",
            json={"email": email, "password": "fuzzing-password"},
            timeout=10,
        )
        token = requests.post(
            f"{base}/api/v1/auth/token",
            data={"username": email, "password": "fuzzing-password"},
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        conversation = requests.post(
            f"{base}/api/v1/conversations", json={"title": "fuzz"}, headers=headers, timeout=10
        ).json()
        requests.post(
            f"{base}/api/v1/conversations/{conversation['id']}/messages",
            json={"role": "user", "content": "hello"},
            headers=headers,
            timeout=10,
        )
        requests.post(
            f"{base}/api/v1/sites",
            json={"title": "fuzz", "files": [{"path": "index.html", "content": "x"}]},
            headers=headers,
            timeout=10,
        )
        yield base, headers
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def fuzz_schema(fuzz_target: tuple[str, dict[str, str]]):  # type: ignore[no-untyped-def]
    base, _ = fuzz_target
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


def test_no_server_errors_and_conforming_responses(fuzz_schema, fuzz_target) -> None:  # type: ignore[no-untyped-def]
    """Every operation, EXAMPLES generated cases each (FUZZ_EXAMPLES raises it)."""
    base, headers = fuzz_target
    failures: list[str] = []
    operations = 0
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=base, headers=headers, timeout=60)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:800]}")
    print(f"fuzzed {operations} operations")
    assert operations >= 50
    assert not failures, "\n\n".join(failures)

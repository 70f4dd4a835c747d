"""The operator's commands, run as a subprocess against the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from subprocess import PIPE

import httpx

from app.settings import Settings
from tests.factories import TestUser


async def run_cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m app ARGS` without blocking the event loop the app under test runs on."""
    env = {
        **os.environ,
        "MONGODB_URL": settings.mongodb_url or "",
        "MONGODB_DB": settings.mongodb_db,
        "APP_ENV": "test",
        "COLUMNS": "200",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, env=env, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    return subprocess.CompletedProcess(
        args, process.returncode or 0, stdout.decode(), stderr.decode()
    )


async def test_users_promote_gives_the_admin_role(
    client: httpx.AsyncClient, settings: Settings, alice: TestUser
) -> None:
    result = await run_cli(settings, "users", "promote", alice.email.upper())
    assert result.returncode == 0, result.stderr
    me = (await client.get("/api/v1/users/me", headers=alice.headers)).json()
    assert me["roles"] == ["admin"]
    missing = await run_cli(settings, "users", "promote", "nobody@example.com")
    assert missing.returncode == 1 and "No user" in missing.stderr

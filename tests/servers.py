"""The app served by a real uvicorn process, for tests that need a separate process (its own
database binding, its own memory, or one that can be killed)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from app.embedded_server import free_port
from app.settings import Settings

# How long a test client waits on a served app between bytes: a loaded 2-core machine running
# several workers can stall a streamed answer for seconds (httpx's default is 5 s).
PATIENT = httpx.Timeout(60)


@dataclass
class ServedApp:
    base_url: str
    process: asyncio.subprocess.Process


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URL": settings.mongodb_url or "",
        "MONGODB_DB": settings.mongodb_db,
        "APP_ENV": "test",
        "SECRET_KEY": settings.secret_key,
        "LOG_LEVEL": "WARNING",
        "EXTERNAL_JWT_ISSUER": settings.external_jwt_issuer or "",
        "EXTERNAL_JWT_PUBLIC_KEY": settings.external_jwt_public_key or "",
        "WEBHOOK_ALLOW_PRIVATE": str(settings.webhook_allow_private).lower(),
        "WEBHOOK_POLL_S": str(settings.webhook_poll_s),
        "WEBHOOK_RETRY_BASE_S": str(settings.webhook_retry_base_s),
        "WEBHOOK_RETRY_MAX_S": str(settings.webhook_retry_max_s),
        "SSE_POLL_S": str(settings.sse_poll_s),
        "SSE_MAX_S": str(settings.sse_max_s),
        # One dispatcher per test database, the in-process app's: a test that wants a served
        # app to deliver says so.
        "WEBHOOK_DISPATCH": "false",
        **extra,
    }


def server_command(port: int) -> list[str]:
    """uvicorn serving the app on loopback `port`."""
    return [
        sys.executable, "-m", "uvicorn", "app.main:asgi", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        # Clients keep connections between races: a server closing an idle one (uvicorn's
        # default is 5 s) as a client reuses it made a race fail with ReadError.
        "--timeout-keep-alive", "600",
    ]  # fmt: skip


async def start_server(settings: Settings, **extra: str) -> ServedApp:
    port = free_port()
    # As `make run` does: the app knows the port it serves on (PUBLIC_BASE_URL's default).
    process = await asyncio.create_subprocess_exec(
        *server_command(port), env=server_env(settings, PORT=str(port), **extra)
    )
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(1200):  # a minute: a loaded 2-core machine starts several at once
            if process.returncode is not None:
                break
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return ServedApp(base_url, process)
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError("the app did not start")


@asynccontextmanager
async def served_app(settings: Settings, **extra: str) -> AsyncIterator[ServedApp]:
    served = await start_server(settings, **extra)
    try:
        yield served
    finally:
        if served.process.returncode is None:
            served.process.terminate()
            await served.process.wait()

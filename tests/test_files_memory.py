"""A 100 MB upload and download through a real uvicorn process keep its memory flat."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from app.embedded_server import free_port
from app.settings import Settings

SIZE = 100 * 1024 * 1024
LIMIT_GROWTH = 30 * 1024 * 1024


def _memory(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def _body(boundary: bytes, digest: Any) -> AsyncIterator[bytes]:
    yield (
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    )
    block = os.urandom(1024 * 1024)
    for i in range(SIZE // len(block)):
        piece = block[:8] + i.to_bytes(8, "big") + block[16:]
        digest.update(piece)
        yield piece
    yield b"\r\n--" + boundary + b"--\r\n"


async def test_hundred_megabytes_in_and_out_with_flat_memory(settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MONGODB_URL": settings.mongodb_url or "",
        "MONGODB_DB": settings.mongodb_db,
        "APP_ENV": "test",
        "MAX_UPLOAD_BYTES": str(SIZE + 1024),
        "LOG_LEVEL": "WARNING",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:asgi",
        "--factory",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-access-log",
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=300) as client:
            for _ in range(100):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            email = f"mem-{os.urandom(4).hex()}@example.com"
            await client.post("/api/v1/auth/register", json={"email": email, "password": "x" * 12})
            token = (
                await client.post(
                    "/api/v1/auth/token", data={"username": email, "password": "x" * 12}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            # Warm up every code path once, then take the baseline.
            warm = await client.post(
                "/api/v1/files", files={"file": ("w", b"warm up")}, headers=headers
            )
            await client.get(f"/api/v1/files/{warm.json()['id']}/content", headers=headers)
            baseline = _memory(server.pid, "VmRSS")

            digest = hashlib.sha256()
            uploaded = await client.post(
                "/api/v1/files",
                content=_body(b"bigboundary", digest),
                headers={**headers, "Content-Type": "multipart/form-data; boundary=bigboundary"},
            )
            assert uploaded.status_code == 201, uploaded.text
            assert uploaded.json()["size"] == SIZE
            assert uploaded.json()["sha256"] == digest.hexdigest()
            after_upload = _memory(server.pid, "VmHWM")

            received = hashlib.sha256()
            total = 0
            async with client.stream(
                "GET", f"/api/v1/files/{uploaded.json()['id']}/content", headers=headers
            ) as response:
                assert response.status_code == 200
                async for part in response.aiter_bytes():
                    received.update(part)
                    total += len(part)
            assert total == SIZE and received.hexdigest() == digest.hexdigest()
            peak = _memory(server.pid, "VmHWM")
        print(
            f"baseline {baseline >> 20} MiB, peak after upload {after_upload >> 20} MiB, "
            f"peak after download {peak >> 20} MiB"
        )
        assert peak - baseline < LIMIT_GROWTH, (baseline, after_upload, peak)
    finally:
        server.terminate()
        await server.wait()

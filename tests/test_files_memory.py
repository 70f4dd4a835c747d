"""A 100 MB upload and download through a real uvicorn process keep its memory flat."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from app.settings import Settings
from tests.servers import served_app

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
    async with served_app(settings, MAX_UPLOAD_BYTES=str(SIZE + 1024)) as served:
        pid = served.process.pid
        async with httpx.AsyncClient(base_url=served.base_url, timeout=300) as client:
            email = f"mem-{os.urandom(4).hex()}@example.com"
            await client.post("/api/v1/auth/register", json={"email": email, "password": "x" * 12})
            login = {"username": email, "password": "x" * 12}
            token = (await client.post("/api/v1/auth/token", data=login)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            # Warm up every code path once, then take the baseline.
            warm = await client.post(
                "/api/v1/files", files={"file": ("w", b"warm up")}, headers=headers
            )
            await client.get(f"/api/v1/files/{warm.json()['id']}/content", headers=headers)
            baseline = _memory(pid, "VmRSS")

            digest = hashlib.sha256()
            uploaded = await client.post(
                "/api/v1/files",
                content=_body(b"bigboundary", digest),
                headers={**headers, "Content-Type": "multipart/form-data; boundary=bigboundary"},
            )
            assert uploaded.status_code == 201, uploaded.text
            assert uploaded.json()["size"] == SIZE
            assert uploaded.json()["sha256"] == digest.hexdigest()
            after_upload = _memory(pid, "VmHWM")

            received = hashlib.sha256()
            total = 0
            url = f"/api/v1/files/{uploaded.json()['id']}/content"
            async with client.stream("GET", url, headers=headers) as response:
                assert response.status_code == 200
                async for part in response.aiter_bytes():
                    received.update(part)
                    total += len(part)
            assert total == SIZE and received.hexdigest() == digest.hexdigest()
            peak = _memory(pid, "VmHWM")
    print(
        f"baseline {baseline >> 20} MiB, peak after upload {after_upload >> 20} MiB, "
        f"peak after download {peak >> 20} MiB"
    )
    assert peak - baseline < LIMIT_GROWTH, (baseline, after_upload, peak)

"""10 MB uploads and downloads: throughput against the raw GridFS bucket, and memory."""

from __future__ import annotations

import os

import httpx

from bench.harness import Bench, Row, measure, rss


async def run_transfers(bench: Bench) -> None:
    report, api, floor, auth, as_user = (
        bench.report,
        bench.api,
        bench.floor,
        bench.auth,
        bench.as_user,
    )
    payload = os.urandom(10 * 1024 * 1024)
    uploaded: list[str] = []
    floor_uploaded: list[str] = []

    async def app_upload(i: int) -> httpx.Response:
        response = await api.post(
            "/api/v1/files",
            files={"file": ("big.bin", payload[:-8] + i.to_bytes(8, "big"))},
            headers=auth,
        )
        uploaded.append(response.json()["id"])
        return response

    async def floor_upload(i: int) -> httpx.Response:
        response = await floor.post(
            "/upload", content=payload[:-8] + i.to_bytes(8, "big"), headers=as_user
        )
        floor_uploaded.append(response.json()["id"])
        return response

    # Downloads first, of two files per side: some engines scan every stored chunk per read,
    # so the download figures must not depend on how much the upload case stored before.
    if bench.wants("download a 10 MB file"):
        for i in range(2):
            await app_upload(20_000_000 + i)
            await floor_upload(20_000_000 + i)
        baseline = rss(bench.app_pid)
        download_rows = []
        for concurrency in (1, 8):
            total = 4 if concurrency == 1 else 8
            app_stats = await measure(
                lambda i: api.get(
                    f"/api/v1/files/{uploaded[i % len(uploaded)]}/content", headers=auth
                ),
                concurrency,
                total,
            )
            floor_stats = await measure(
                lambda i: floor.get(
                    f"/download/{floor_uploaded[i % len(floor_uploaded)]}", headers=as_user
                ),
                concurrency,
                total,
            )
            download_rows.append(Row("download a 10 MB file", concurrency, app_stats, floor_stats))
        report.rows.extend(download_rows)
        growth = rss(bench.app_pid, "VmHWM") - baseline
        ratio = min(r.ratio or 0 for r in download_rows)
        report.targets.append(
            (
                "GridFS download ≥ 50% of raw AsyncGridFSBucket throughput",
                f"{ratio:.0%}",
                ratio >= 0.5,
            )
        )
        report.targets.append(
            (
                "download memory flat (peak RSS growth of the app < 30 MB)",
                f"{growth / 2**20:.1f} MB",
                growth < 30 * 2**20,
            )
        )
        bench.save()

    if bench.wants("upload a 10 MB file"):
        for concurrency in (1, 8):
            total = 4 if concurrency == 1 else 8
            report.rows.append(
                Row(
                    "upload a 10 MB file",
                    concurrency,
                    await measure(app_upload, concurrency, total),
                    await measure(floor_upload, concurrency, total),
                )
            )
        bench.save()

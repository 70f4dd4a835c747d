"""Histories that grow: append cost at message 20,000, and a site after 500 commits."""

from __future__ import annotations

import statistics
import time

import bson
from bson import ObjectId

from bench.harness import Bench
from bench.seeding import seed_long_conversation


async def append_flatness(bench: Bench) -> None:
    """Append cost flat in conversation length: messages 1–100 vs 19,900–20,000."""
    report, api, db, auth, me = bench.report, bench.api, bench.db, bench.auth, bench.me
    # Append cost flat in conversation length: messages 1–100 vs 19,900–20,000.
    owner = ObjectId(me["id"])
    short = (await api.post("/api/v1/conversations", json={"title": "short"}, headers=auth)).json()[
        "id"
    ]
    long_id = await seed_long_conversation(db, owner, 19_899)

    async def append_series(conversation_id: str) -> float:
        latencies = []
        for i in range(100):
            started = time.perf_counter()
            response = await api.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"role": "user", "content": f"m{i}"},
                headers=auth,
            )
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 201
        return statistics.median(latencies) * 1000

    short_ms = await append_series(short)
    long_ms = await append_series(long_id)
    last = await db.conversations.find_one({"_id": ObjectId(long_id)})
    flat = long_ms / short_ms
    report.targets.append(
        (
            "append cost flat in length: median of messages 19,900-20,000 vs 1-100 ≤ 1.3×",
            f"{long_ms:.2f} ms vs {short_ms:.2f} ms = {flat:.2f}× (message_count {last['message_count']}, document {len(bson.encode(last)) // 1024} KB)",
            flat <= 1.3,
        )
    )

    bench.save()


async def site_storage(bench: Bench) -> None:
    """A 200-file site committed 500 times with one-file changes."""
    report, api, db, auth, me = bench.report, bench.api, bench.db, bench.auth, bench.me
    files = [
        {"path": f"pages/p{i:03d}.html", "content": f"<p>{i}</p>" + "x" * 500} for i in range(200)
    ]
    owner = ObjectId(me["id"])
    site500 = (
        await api.post("/api/v1/sites", json={"title": "history", "files": files}, headers=auth)
    ).json()
    for n in range(500):
        response = await api.post(
            f"/api/v1/sites/{site500['id']}/versions",
            json={
                "base_version": n + 1,
                "changes": [
                    {"path": files[n % 200]["path"], "content": f"<p>edit {n}</p>" + "y" * 500}
                ],
            },
            headers=auth,
        )
        assert response.status_code == 201, response.text
    raw_site = await db.sites.find_one({"_id": ObjectId(site500["id"])})
    size = len(bson.encode(raw_site))
    stored = sum(
        [raw["length"] async for raw in db["blobs.files"].find({"metadata.owner_id": owner})]
    )
    unique = len(
        {f["content"] for f in files} | {f"<p>edit {n}</p>" + "y" * 500 for n in range(500)}
    )
    unique_bytes = sum(len(c.encode()) for c in {f["content"] for f in files}) + sum(
        len((f"<p>edit {n}</p>" + "y" * 500).encode()) for n in range(500)
    )
    report.targets.append(
        (
            "a 200-file site after 500 one-file commits: document < 256 KB",
            f"{size / 1024:.0f} KB",
            size < 256 * 1024,
        )
    )
    report.notes.append(
        f"GridFS bytes for the user after all site cases: {stored:,} (the 500-commit site's unique content: {unique_bytes:,} bytes in {unique} blobs)."
    )
    site_blobs = set()
    for f in raw_site["files"]:
        site_blobs.add(f["sha256"])
    for version in raw_site["versions"]:
        for change in version["changes"]:
            if change.get("sha256"):
                site_blobs.add(change["sha256"])
    site_bytes = sum(
        [
            raw["length"]
            async for raw in db["blobs.files"].find(
                {"metadata.owner_id": owner, "metadata.sha256": {"$in": list(site_blobs)}}
            )
        ]
    )
    report.targets.append(
        (
            "GridFS holds ≤ 1.05× the unique content of that site",
            f"{site_bytes / unique_bytes:.3f}×",
            site_bytes <= unique_bytes * 1.05,
        )
    )

    bench.save()

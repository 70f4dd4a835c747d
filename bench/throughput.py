"""Throughput of the hot paths, app against floor at concurrency 1, 8 and 32."""

from __future__ import annotations

import asyncio
import hashlib

import httpx

from bench.harness import Bench


async def run_throughput(bench: Bench) -> None:
    api, floor, auth, as_user, key = bench.api, bench.floor, bench.auth, bench.as_user, bench.key
    report, compare = bench.report, bench.compare
    # Append: spread over 160 conversations so no window (100 messages) rolls over in either.
    app_conversations = [
        (await api.post("/api/v1/conversations", json={"title": f"c{i}"}, headers=auth)).json()[
            "id"
        ]
        for i in range(160)
    ]
    floor_conversations = [
        (await api.post("/api/v1/conversations", json={"title": f"f{i}"}, headers=auth)).json()[
            "id"
        ]
        for i in range(160)
    ]
    append_rows = await compare(
        "append message",
        lambda i: api.post(
            f"/api/v1/conversations/{app_conversations[i % 160]}/messages",
            json={"role": "user", "content": "hello"},
            headers=auth,
        ),
        lambda i: floor.post(f"/append/{floor_conversations[i % 160]}", json={}, headers=as_user),
    )
    if append_rows:
        c32 = append_rows[-1]
        report.targets.append(
            (
                "append-message throughput ≥ 60% of the floor at concurrency 32",
                f"{c32.ratio:.0%}",
                bool(c32.ratio and c32.ratio >= 0.6),
            )
        )

    # Reservations against a (high) monthly limit: the guarded path.
    await bench.db.users.update_one(
        {"_id": bench.owner}, {"$set": {"limits.monthly_spend_micros": 10**15}}
    )
    await compare(
        "reserve budget",
        lambda i: api.post("/api/v1/usage/reservations", json={"amount_usd": "0.01"}, headers=auth),
        lambda i: floor.post("/reserve", json={}, headers=as_user),
    )

    await compare(
        "list conversations",
        lambda i: api.get("/api/v1/conversations", headers=auth),
        lambda i: floor.get("/conversations", headers=as_user),
    )

    # Sites: 200 files; the manifest of an older version, and commits (one site per worker).
    files = [
        {"path": f"pages/p{i:03d}.html", "content": f"<p>{i}</p>" + "x" * 500} for i in range(200)
    ]
    site = (
        await api.post("/api/v1/sites", json={"title": "bench", "files": files}, headers=auth)
    ).json()
    for n in range(1, 5):
        await api.post(
            f"/api/v1/sites/{site['id']}/versions",
            json={"base_version": n, "changes": [{"path": "index.html", "content": f"v{n}"}]},
            headers=auth,
        )
    await compare(
        "get a site version's manifest",
        lambda i: api.get(f"/api/v1/sites/{site['id']}/versions/2", headers=auth),
        lambda i: floor.get(f"/manifest/{site['id']}", headers=as_user),
    )
    # Commits: 32 sites per side, each committed to by one request at a time (a lock per site),
    # so every commit is against the current version and none is refused.
    commit_sites: dict[str, str] = {}
    versions: dict[str, int] = {}
    locks: dict[str, asyncio.Lock] = {}
    for kind in ("app", "floor"):
        for n in range(32):
            slot = f"{kind}{n}"
            created = (
                await api.post(
                    "/api/v1/sites", json={"title": slot, "files": files[:20]}, headers=auth
                )
            ).json()
            commit_sites[slot], versions[slot], locks[slot] = (
                created["id"],
                created["current_version"],
                asyncio.Lock(),
            )

    def committer(kind: str, client: httpx.AsyncClient):
        async def call(i: int) -> httpx.Response:
            slot = f"{kind}{i % 32}"
            async with locks[slot]:
                content = f"<p>{slot} {i}</p>"
                if kind == "app":
                    response = await client.post(
                        f"/api/v1/sites/{commit_sites[slot]}/versions",
                        json={
                            "base_version": versions[slot],
                            "changes": [{"path": "index.html", "content": content}],
                        },
                        headers=auth,
                    )
                else:
                    sha = hashlib.sha256(content.encode()).hexdigest()
                    response = await client.post(
                        f"/commit/{commit_sites[slot]}/{sha}",
                        content=content.encode(),
                        headers=as_user,
                    )
                if response.status_code == 201:
                    versions[slot] = response.json()["number"]
                return response

        return call

    await compare(
        "commit a site version",
        committer("app", api),
        committer("floor", floor),
    )

    # Auth: the caller's read, by bearer token; by API key, also the key's counted use.
    await compare(
        "GET /users/me, bearer token",
        lambda i: api.get("/api/v1/users/me", headers=auth),
        lambda i: floor.get("/me", headers=as_user),
    )
    await compare(
        "GET /users/me, API key",
        lambda i: api.get("/api/v1/users/me", headers={"X-API-Key": key}),
        lambda i: floor.get("/me-by-key", headers={**as_user, "X-API-Key": key}),
    )

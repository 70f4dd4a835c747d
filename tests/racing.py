"""Actors that really race, as production runs them.

The in-process app talks to the embedded FerretDB v1 over one connection (its engine profile
asks for that), which would serialise every concurrent request and make a race test pass for
the wrong reason. `Racers` serve the app from several uvicorn processes, each with a normal
connection pool, and spread the actors over them: their commands reach the database over many
connections at once, on any engine.

Races that need one document to be updated in isolation by several connections (a findAndModify
guard, a `$inc`) are marked `needs_isolation`: they run where the engine isolates such updates
(FerretDB v2 with DocumentDB, or MongoDB, through `MONGODB_URL`) and are reported as skipped,
with that reason, where it does not. Every race asserts that no answer was a 5xx: contention
is the engine module's to absorb (`app/engine/contention.py`), never the client's to see.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import pytest

from app.settings import Settings
from tests.servers import ServedApp, start_server

RACE_PROCESSES = 2
RACE_POOL_SIZE = 16
# Rounds of the first-write races (a new key each round); `RACE_ROUNDS=30` for a longer hunt.
ROUNDS = int(os.environ.get("RACE_ROUNDS", "10"))

needs_isolation = pytest.mark.needs_isolation

T = TypeVar("T")


@dataclass
class Racers:
    servers: list[ServedApp]
    clients: list[httpx.AsyncClient]
    server_errors: list[str] = field(default_factory=list)

    async def race(self, actors: Sequence[Callable[[httpx.AsyncClient], Awaitable[T]]]) -> list[T]:
        """Start every actor at once, actor i on app process i mod n. Every race also asserts
        that no answer of any request it sent was a 5xx."""
        self.server_errors.clear()
        gate = asyncio.Event()

        async def run(i: int, actor: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
            await gate.wait()
            return await actor(self.clients[i % len(self.clients)])

        tasks = [asyncio.create_task(run(i, actor)) for i, actor in enumerate(actors)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert self.server_errors == [], self.server_errors
        return results

    async def pool_sizes(self) -> list[int]:
        sizes = []
        for client in self.clients:
            metrics = (await client.get("/metrics")).text
            found = re.search(r"^db_pool_max_size (\d+)", metrics, re.MULTILINE)
            sizes.append(int(float(found.group(1))) if found else 0)
        return sizes


async def start_racers(settings: Settings) -> Racers:
    servers = await asyncio.gather(
        *(
            start_server(settings, MONGODB_POOL_SIZE=str(RACE_POOL_SIZE))
            for _ in range(RACE_PROCESSES)
        )
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    server_errors: list[str] = []

    async def record_server_error(response: httpx.Response) -> None:
        if response.status_code >= 500:
            await response.aread()
            server_errors.append(
                f"{response.request.method} {response.request.url.path} "
                f"{response.status_code} {response.text[:200]}"
            )

    clients = [
        httpx.AsyncClient(
            base_url=server.base_url,
            timeout=120,
            limits=limits,
            event_hooks={"response": [record_server_error]},
        )
        for server in servers
    ]
    return Racers(list(servers), clients, server_errors)


async def stop_racers(racers: Racers) -> None:
    for client in racers.clients:
        await client.aclose()
    for server in racers.servers:
        if server.process.returncode is None:
            server.process.terminate()
            await server.process.wait()

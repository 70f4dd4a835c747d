"""The bench's machinery: measuring a request function, app-vs-floor comparisons, the servers
under test, and the context every case group receives."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import time
import uuid
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId

from app import engine
from app.embedded_server import free_port
from app.engine import EngineProfile
from bench.profiling import recording

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 8, 32)
# Per side and concurrency: blocks of a fixed time, so a fast engine and a slow one are each
# measured long enough (blocks of 30 requests, ~0.1 s, measured the machine's moments: a row
# moved by 30 points between runs).
BLOCKS = 8
BLOCK_SECONDS = 1.0
WARM_UP = itertools.count(10_000_000)
THROUGHPUT_CASES = (
    "append message",
    "reserve budget",
    "list conversations",
    "get a site version's manifest",
    "commit a site version",
    "GET /users/me, bearer token",
    "GET /users/me, API key",
)
TARGET_CASES = (
    "download a 10 MB file",
    "upload a 10 MB file",
    "append flatness",
    "site storage",
    "analytics",
    "racing batch ingest",
    "import throughput",
    "search",
    "money",
)


@dataclass
class Selection:
    """Which cases this run measures: all, the targets only, or those named with --case."""

    targets_only: bool = False
    names: list[str] = field(default_factory=list)
    profile: Path | None = None  # where py-spy profiles of the app go (bench/profiling.py)

    def wants(self, case: str) -> bool:
        if case in THROUGHPUT_CASES and self.targets_only:
            return False
        return not self.names or any(name.lower() in case.lower() for name in self.names)


@dataclass
class Stats:
    throughput: float
    p50_ms: float
    p99_ms: float
    requests: int
    latencies: list[float] = field(default_factory=list, repr=False)


@dataclass
class Row:
    case: str
    concurrency: int
    app: Stats
    floor: Stats | None

    @property
    def ratio(self) -> float | None:
        return self.app.throughput / self.floor.throughput if self.floor else None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    targets: list[tuple[str, str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def stats_of(latencies: list[float], requests: int, seconds: float) -> Stats:
    ordered = sorted(latencies)
    return Stats(
        throughput=requests / seconds,
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        requests=requests,
        latencies=ordered,
    )


def combine(parts: list[Stats]) -> Stats:
    """Blocks of one side pooled: latencies of every request, and the median block's throughput
    (a pause of the shared machine — the database's vacuum, a checkpoint — lands in one block of
    one side; the median sets it aside instead of charging it to that side's total)."""
    pooled = stats_of(
        [latency for p in parts for latency in p.latencies],
        sum(p.requests for p in parts),
        sum(p.requests / p.throughput for p in parts),
    )
    pooled.throughput = statistics.median(p.throughput for p in parts)
    return pooled


async def measure(
    request: Callable[[int], Awaitable[httpx.Response]],
    concurrency: int,
    total: int | None = None,
    *,
    seconds: float | None = None,
) -> Stats:
    """`concurrency` workers send `total` requests, or as many as they start within `seconds`
    (at least one each); request `i` gets index `i` of the block."""
    latencies: list[float] = []
    counter = itertools.count()
    deadline = None

    def more(i: int) -> bool:
        if total is not None:
            return i < total
        return i < concurrency or time.perf_counter() < deadline  # type: ignore[operator]

    async def worker() -> None:
        while more(i := next(counter)):
            started = time.perf_counter()
            response = await request(i)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 300:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

    for _ in range(2):  # warm-up, with indices no measured request uses
        await request(next(WARM_UP))
    started = time.perf_counter()
    deadline = started + (seconds or 0)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stats_of(latencies, len(latencies), time.perf_counter() - started)


SECRET = "bench-" + "s" * 40


def served_env(url: str, db_name: str, *, floor_projected: bool, **extra: str) -> dict[str, str]:
    """The environment the app and the floor of one measurement share: the same database and
    secret, quiet logs, and the floor projecting a findAndModify's answer where the engine
    allows it, as the app does (`FLOOR_PROJECTED`)."""
    return {
        **os.environ,
        "MONGODB_URL": url,
        "MONGODB_DB": db_name,
        "APP_ENV": "test",
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "FLOOR_PROJECTED": "1" if floor_projected else "",
        **extra,
    }


async def engine_profile(url: str) -> EngineProfile:
    from pymongo import AsyncMongoClient

    probe: AsyncMongoClient = AsyncMongoClient(url, maxPoolSize=1)
    try:
        return await engine.detect(probe)
    finally:
        await probe.close()


async def sign_up(api: httpx.AsyncClient) -> dict[str, Any]:
    """A user with a bearer token and an API key; the floor knows the user by `X-User`."""
    email = f"bench-{uuid.uuid4().hex[:6]}@example.com"
    await api.post("/api/v1/auth/register", json={"email": email, "password": "benchmark-pass"})
    token = (
        await api.post("/api/v1/auth/token", data={"username": email, "password": "benchmark-pass"})
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = (await api.get("/api/v1/users/me", headers=auth)).json()
    key = (
        await api.post(
            "/api/v1/users/me/api-keys", json={"name": "bench", "scopes": ["*"]}, headers=auth
        )
    ).json()["key"]
    return {"auth": auth, "as_user": {"X-User": me["id"]}, "me": me, "key": key}


async def start_uvicorn(
    target: str,
    env: dict[str, str],
    *,
    wrapper: Sequence[str] = (),
    start_within_s: float = 15.0,
) -> tuple[asyncio.subprocess.Process, str]:
    """uvicorn serving `target` (the app's factory or the floor), run under `wrapper` when
    given (valgrind for `bench.instructions`), once it answers `/healthz`."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *wrapper,
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        # Idle keep-alive connections stay open between phases: a server closing one just as
        # the client reuses it is a ReadError, not a measurement (app and floor alike).
        "--timeout-keep-alive",
        "3600",
        "--log-level",
        "warning",
        *(["--factory"] if target.startswith("app.") else []),
        env=env,
        cwd=str(ROOT),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.perf_counter() + start_within_s
    async with httpx.AsyncClient() as probe:
        while time.perf_counter() < deadline:
            try:
                await probe.get(base + "/healthz")
                return process, base
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    process.kill()
    await process.wait()
    raise RuntimeError(f"{target} did not start")


def rss(pid: int, field_name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Bench:
    """What every case group works with: the clients of the app and its floor, the database,
    the signed-in user, and where results go."""

    report: Report
    selection: Selection
    engine: EngineProfile
    api: httpx.AsyncClient
    floor: httpx.AsyncClient
    db: Any
    auth: dict[str, str]
    as_user: dict[str, str]
    me: dict[str, Any]
    key: str
    app_pid: int
    save: Callable[[], None]
    env: dict[str, str] = field(default_factory=dict)  # the app's environment, for commands

    @property
    def owner(self) -> ObjectId:
        return ObjectId(self.me["id"])

    def wants(self, case: str) -> bool:
        return self.selection.wants(case)

    async def compare(
        self,
        case: str,
        app_call: Callable[[int], Awaitable[httpx.Response]],
        floor_call: Callable[[int], Awaitable[httpx.Response]],
    ) -> list[Row]:
        """App and floor alternate in BLOCKS blocks of BLOCK_SECONDS per concurrency, each pair
        in the order the last one did not take, so that data growing during the case
        (documents, collections) and the machine's slower moments weigh on both alike."""
        rows: list[Row] = []
        if not self.wants(case):
            return rows
        async with recording(self.app_pid, self.selection.profile, case):
            for concurrency in CONCURRENCY:
                app_parts, floor_parts = [], []
                for n in range(BLOCKS):
                    sides = [(app_call, app_parts), (floor_call, floor_parts)]
                    for call, parts in sides if n % 2 == 0 else reversed(sides):
                        parts.append(await measure(call, concurrency, seconds=BLOCK_SECONDS))
                app_stats, floor_stats = combine(app_parts), combine(floor_parts)
                rows.append(Row(case, concurrency, app_stats, floor_stats))
                print(
                    f"{case} c={concurrency}: app {app_stats.throughput:.0f}/s, "
                    f"floor {floor_stats.throughput:.0f}/s",
                    flush=True,
                )
        self.report.rows.extend(rows)
        self.save()
        return rows


async def run_genstore(bench: Bench, *args: str) -> subprocess.CompletedProcess:
    """`python -m app ARGS` against the benchmark's database, as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, env=bench.env, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await process.communicate()
    return subprocess.CompletedProcess(
        args, process.returncode or 0, stdout.decode(), stderr.decode()
    )

"""Instructions per request of the served app and of its floor: a change's effect on the
process's own work, the same in every run whatever else the machine is doing.

MONGODB_URL=mongodb://127.0.0.1:27018/ python -m bench.instructions --route me
MONGODB_URL=… python -m bench.instructions --route reserve --side app --requests 60

The server under test (uvicorn with `app.main` or `bench/floor.py`) runs under valgrind's
callgrind; after a warm-up its counters are zeroed, `--requests` requests are sent one at a
time, and the count is dumped (`callgrind_control`). Each line printed is instructions per
request, uvicorn and the driver included. Under callgrind the process runs ~50× slower, so the
background work that runs on a clock (the webhook dispatcher) is switched off. The database is
a fresh one, dropped at the end; the per-function counts are left in `--out` for
`callgrind_annotate`. Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient

from bench.harness import engine_profile, served_env, sign_up, start_uvicorn

ROUTES = ("me", "key", "reserve", "append", "list")


async def _serve(
    target: str, env: dict[str, str], out: Path | None
) -> tuple[asyncio.subprocess.Process, str]:
    """uvicorn serving `target`, under callgrind writing to `out` (without it when None)."""
    valgrind = [_tool("valgrind"), "--tool=callgrind", f"--callgrind-out-file={out}"] if out else []
    # Start-up under callgrind takes a minute or more.
    return await start_uvicorn(target, env, wrapper=valgrind, start_within_s=300.0)


async def measure(route: str, side: str, requests: int, url: str, out: Path) -> int:
    """Instructions per request of `side` ("app" or "floor") answering `route`."""
    db_name = f"bench_ir_{uuid.uuid4().hex[:8]}"
    profile = await engine_profile(url)
    # Under callgrind the process runs ~50× slower: the dispatcher's clock-driven reads would
    # count per request many times over.
    env = served_env(
        url,
        db_name,
        floor_projected=profile.find_and_modify_projection,
        WEBHOOK_DISPATCH="false",
    )
    # The app serves the setup (sign-up, key, conversations) in both cases; only the measured
    # side runs under callgrind.
    app = await _serve("app.main:asgi", env, out.with_suffix(".app") if side == "app" else None)
    floor = None
    if side == "floor":
        floor = await _serve("bench.floor:app", env, out.with_suffix(".floor"))
    measured = floor or app
    mongo: AsyncMongoClient = AsyncMongoClient(url)
    try:
        async with (
            httpx.AsyncClient(base_url=app[1], timeout=600) as api,
            httpx.AsyncClient(base_url=measured[1], timeout=600) as client,
        ):
            call = await _route(route, side, api, client, mongo[db_name])
            for _ in range(20):
                answer = await call()
                if answer.status_code >= 300:
                    raise RuntimeError(f"{route} answered {answer.status_code}: {answer.text}")
            pid = str(measured[0].pid)
            await _control("--zero", pid)
            for _ in range(requests):
                await call()
            await _control("--dump", pid)
    finally:
        for process in (app[0], floor[0] if floor else None):
            if process is not None:
                process.terminate()
                await process.wait()
        await mongo.drop_database(db_name)
        await mongo.close()
    dumps = sorted(out.parent.glob(out.with_suffix(f".{side}").name + ".*"))
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) // requests
    raise RuntimeError(f"no totals in {dumps[-1]}")


async def _route(
    route: str, side: str, api: httpx.AsyncClient, client: httpx.AsyncClient, db: Any
) -> Callable[[], Awaitable[httpx.Response]]:
    """A signed-up user with a key, a high monthly limit and 40 conversations; the request
    `side` sends for `route`."""
    user = await sign_up(api)
    auth, as_user, key = user["auth"], user["as_user"], user["key"]
    await db.users.update_one(
        {"_id": ObjectId(user["me"]["id"])}, {"$set": {"limits.monthly_spend_micros": 10**15}}
    )
    conversations = [
        (await api.post("/api/v1/conversations", json={"title": f"c{i}"}, headers=auth)).json()[
            "id"
        ]
        for i in range(40)
    ]
    turn = iter(range(10**9))
    app_side = side == "app"
    calls: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
        "me": lambda: (
            client.get("/api/v1/users/me", headers=auth)
            if app_side
            else client.get("/me", headers=as_user)
        ),
        "key": lambda: (
            client.get("/api/v1/users/me", headers={"X-API-Key": key})
            if app_side
            else client.get("/me-by-key", headers={**as_user, "X-API-Key": key})
        ),
        "reserve": lambda: (
            client.post("/api/v1/usage/reservations", json={"amount_usd": "0.01"}, headers=auth)
            if app_side
            else client.post("/reserve", json={}, headers=as_user)
        ),
        "append": lambda: (
            client.post(
                f"/api/v1/conversations/{conversations[next(turn) % 40]}/messages",
                json={"role": "user", "content": "hello"},
                headers=auth,
            )
            if app_side
            else client.post(f"/append/{conversations[next(turn) % 40]}", json={}, headers=as_user)
        ),
        "list": lambda: (
            client.get("/api/v1/conversations", headers=auth)
            if app_side
            else client.get("/conversations", headers=as_user)
        ),
    }
    return calls[route]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"python -m bench.instructions needs {name} (Debian's valgrind package)")
    return found


async def _control(action: str, pid: str) -> None:
    """Zeroes or dumps the counters of the callgrind process `pid`."""
    control = await asyncio.create_subprocess_exec(
        _tool("callgrind_control"),
        action,
        pid,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await control.wait() != 0:
        raise RuntimeError(f"callgrind_control {action} {pid} failed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--route", action="append", choices=ROUTES, default=[])
    parser.add_argument("--side", action="append", choices=("app", "floor"), default=[])
    parser.add_argument("--requests", type=int, default=100, help="measured, per side (100)")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "genstore-callgrind"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    url = os.environ.get("MONGODB_URL")
    if not url:
        raise SystemExit("python -m bench.instructions needs MONGODB_URL (see its docstring)")
    args.out.mkdir(parents=True, exist_ok=True)
    for route in args.route or ["me"]:
        for side in args.side or ["app", "floor"]:
            out = args.out / f"{route}.{uuid.uuid4().hex[:6]}"
            count = asyncio.run(measure(route, side, args.requests, url, out))
            print(f"{route} {side}: {count:,} instructions per request", flush=True)


if __name__ == "__main__":
    main()

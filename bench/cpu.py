"""CPU per request of the app and of its floor, in one process: a change's effect on the app's
own work, measured without the machine's noise that throughput rows carry.

MONGODB_URL=mongodb://127.0.0.1:27018/ python -m bench.cpu                 # every route
MONGODB_URL=… python -m bench.cpu --route me --route reserve --rounds 9

Both ASGI apps (`app.main`, `bench/floor.py`) are called directly, one request at a time, with
no server or client around them, against the same database; each round sends `--requests`
requests and the process's CPU time per request is taken (`time.process_time`, so waiting on
the database does not count, its commands' work in the driver does). The minimum and median of
the rounds are printed: compare a change's minimum against the minimum before it, in runs of the
same engine. The database is a fresh one, dropped at the end. Needs `MONGODB_URL`: an engine
whose commands cost far more than the app (the embedded one) hides the app's share.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[], Awaitable[tuple[int, bytes]]]


def _configure() -> None:
    """The environment `app.main` and `bench.floor` read at import: set before either is."""
    from bench.harness import engine_profile, served_env

    url = os.environ.get("MONGODB_URL")
    if not url:
        raise SystemExit("python -m bench.cpu needs MONGODB_URL (see its docstring)")
    profile = asyncio.run(engine_profile(url))
    os.environ.update(
        served_env(
            url,
            f"bench_cpu_{uuid.uuid4().hex[:8]}",
            floor_projected=profile.find_and_modify_projection,
            WEBHOOK_DISPATCH="false",
        )
    )


async def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request straight into an ASGI app: its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    delivered = False
    status = 0
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(parts)


async def cpu_per_request(call: Call, requests: int, rounds: int) -> list[float]:
    for _ in range(20):  # warm-up: caches, pools, first-call imports
        status, body = await call()
        if status >= 300:
            raise RuntimeError(f"answered {status}: {body[:200]!r}")
    results = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            await call()
        results.append((time.process_time() - started) / requests * 1e6)
    return results


async def run(routes: list[str], requests: int, rounds: int) -> None:
    from asgi_lifespan import LifespanManager

    import bench.floor as floor_module
    from app.main import create_app

    db_name = os.environ["MONGODB_DB"]
    floor = floor_module.app
    async with LifespanManager(create_app(), startup_timeout=120) as manager:
        app = manager.app

        async def post(path: str, data: dict[str, Any], headers: dict[str, str]) -> Any:
            status, body = await asgi_call(
                app, "POST", path, {"content-type": "application/json", **headers}, _json(data)
            )
            if status >= 300:
                raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
            return json.loads(body) if body else None

        email, password = f"cpu-{uuid.uuid4().hex[:6]}@example.com", "benchmark-pass"
        await post("/api/v1/auth/register", {"email": email, "password": password}, {})
        _, body = await asgi_call(
            app,
            "POST",
            "/api/v1/auth/token",
            {"content-type": "application/x-www-form-urlencoded"},
            f"username={email}&password={password}".encode(),
        )
        auth = {"authorization": f"Bearer {json.loads(body)['access_token']}"}
        owner = (await floor_module.db.users.find_one({"email": email}))["_id"]
        await floor_module.db.users.update_one(
            {"_id": owner}, {"$set": {"limits.monthly_spend_micros": 10**15}}
        )
        as_user = {"x-user": str(owner)}
        # Appends rotate over conversations, so no window rolls over (100 messages).
        app_conversations, floor_conversations = [
            [(await post("/api/v1/conversations", {"title": side}, auth))["id"] for _ in range(50)]
            for side in ("app", "floor")
        ]
        appended = itertools.count()
        json_auth = {"content-type": "application/json", **auth}
        reserve = _json({"amount_usd": "0.01"})
        message = _json({"role": "user", "content": "hello"})
        cases: dict[str, tuple[Call, Call]] = {
            "me": (
                lambda: asgi_call(app, "GET", "/api/v1/users/me", auth),
                lambda: asgi_call(floor, "GET", "/me", as_user),
            ),
            "reserve": (
                lambda: asgi_call(app, "POST", "/api/v1/usage/reservations", json_auth, reserve),
                lambda: asgi_call(floor, "POST", "/reserve", as_user, b"{}"),
            ),
            "append": (
                lambda: asgi_call(
                    app,
                    "POST",
                    f"/api/v1/conversations/{app_conversations[next(appended) % 50]}/messages",
                    json_auth,
                    message,
                ),
                lambda: asgi_call(
                    floor,
                    "POST",
                    f"/append/{floor_conversations[next(appended) % 50]}",
                    as_user,
                    b"{}",
                ),
            ),
        }
        try:
            for route in routes or list(cases):
                app_call, floor_call = cases[route]
                count = min(requests, 4000 // (rounds + 1)) if route == "append" else requests
                measured = {
                    side: await cpu_per_request(call, count, rounds)
                    for side, call in (("app", app_call), ("floor", floor_call))
                }
                print(
                    f"{route}: app min {min(measured['app']):.0f} µs, median "
                    f"{statistics.median(measured['app']):.0f} µs; floor min "
                    f"{min(measured['floor']):.0f} µs, median "
                    f"{statistics.median(measured['floor']):.0f} µs CPU per request",
                    flush=True,
                )
        finally:
            await floor_module.client.drop_database(db_name)


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--route", action="append", default=[], choices=["me", "reserve", "append"])
    parser.add_argument("--requests", type=int, default=500, help="per round (default 500)")
    parser.add_argument("--rounds", type=int, default=7, help="default 7")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    _configure()
    asyncio.run(run(args.route, args.requests, args.rounds))


if __name__ == "__main__":
    main()

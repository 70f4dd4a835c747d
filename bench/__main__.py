"""Runs the benchmark cases against the app and its floor in the same run, writes BENCHMARKS.md.

make bench                                  # every case, on the embedded FerretDB
MONGODB_URL=… make bench                    # every case, on any server
python -m bench --targets-only              # only the target rows
python -m bench --case analytics --case money
python -m bench --list                      # the case names
python -m bench --case "users/me" --profile profiles/   # with py-spy profiles of the app
python -m bench --help

BENCHMARKS.md keeps one section per engine measured; a run replaces its engine's section only.
Case groups live one per module: throughput.py, transfers.py, history.py, analytics.py,
ingest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient

from app import engine
from app.embedded_server import EmbeddedServer, free_port
from bench import analytics, history, imports, ingest, search, throughput, transfers
from bench.harness import (
    ROOT,
    TARGET_CASES,
    THROUGHPUT_CASES,
    Bench,
    Report,
    Selection,
    engine_profile,
    served_env,
    sign_up,
    start_uvicorn,
)
from bench.report import write_markdown


async def run(selection: Selection, started: float) -> Report:
    report = Report()
    embedded = None
    url = os.environ.get("MONGODB_URL")
    if not url:
        embedded = EmbeddedServer(
            data_dir=tempfile.mkdtemp(prefix="genstore-bench-"), port=free_port()
        )
        embedded.start()
        url = embedded.url
    profile = await engine_profile(url)
    pool = engine.pool_size(profile, None)
    print(f"engine: {profile.name} {profile.version}, pool {pool or 100}", flush=True)
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    env = served_env(
        url,
        db_name,
        floor_projected=profile.find_and_modify_projection,
        MAX_UPLOAD_BYTES=str(64 * 1024 * 1024),
        **({"MONGODB_POOL_SIZE": str(pool)} if pool else {}),
    )
    processes: list[asyncio.subprocess.Process] = []
    mongo: AsyncMongoClient = AsyncMongoClient(url, tz_aware=True)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    def save() -> None:
        write_markdown(
            report,
            profile=profile,
            selection=selection,
            seconds=time.perf_counter() - started,
            partial=True,
        )

    try:
        app_process, app_url = await start_uvicorn("app.main:asgi", env)
        processes.append(app_process)
        floor_process, floor_url = await start_uvicorn("bench.floor:app", env)
        processes.append(floor_process)
        async with (
            httpx.AsyncClient(base_url=app_url, limits=limits, timeout=600) as api,
            httpx.AsyncClient(base_url=floor_url, limits=limits, timeout=600) as floor,
        ):
            user = await sign_up(api)
            bench = Bench(
                report=report,
                selection=selection,
                engine=profile,
                api=api,
                floor=floor,
                db=mongo[db_name],
                app_pid=app_process.pid,
                save=save,
                env=env,
                **user,
            )
            await run_cases(bench)
        write_markdown(
            report, profile=profile, selection=selection, seconds=time.perf_counter() - started
        )
    finally:
        # Also on Ctrl-C or SIGTERM: nothing this run started outlives it.
        for process in processes:
            if process.returncode is None:
                process.terminate()
                await process.wait()
        try:
            await mongo.drop_database(db_name)
        finally:
            await mongo.close()
            if embedded:
                embedded.stop()
    return report


async def run_cases(bench: Bench) -> None:
    if any(bench.wants(case) for case in THROUGHPUT_CASES):
        await throughput.run_throughput(bench)
    await transfers.run_transfers(bench)
    if bench.wants("append flatness"):
        await history.append_flatness(bench)
    if bench.wants("site storage"):
        await history.site_storage(bench)
    if bench.wants("analytics"):
        await analytics.analytics_at_a_million(bench)
    if bench.wants("racing batch ingest"):
        await ingest.racing_batch_ingest(bench)
    if bench.wants("import throughput"):
        await imports.import_throughput(bench)
    if bench.wants("search"):
        await search.search_at_fifty_thousand(bench)
    if bench.wants("money"):
        await analytics.exact_money(bench)


def parse_args(argv: list[str]) -> Selection:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the app against a raw-driver floor on one engine (the embedded "
        "FerretDB, or MONGODB_URL) and write that engine's section of BENCHMARKS.md.",
    )
    parser.add_argument(
        "--targets-only", action="store_true", help="only the target rows (no throughput table)"
    )
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="NAME",
        help="only cases whose name contains NAME (repeatable; --list shows them)",
    )
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the app with py-spy during each throughput case; write DIR/<case>.txt "
        "(collapsed stacks) and DIR/<case>.top.md (the functions with the most samples)",
    )
    args = parser.parse_args(argv)
    if args.list:
        print("throughput cases:\n  " + "\n  ".join(THROUGHPUT_CASES))
        print("target cases:\n  " + "\n  ".join(TARGET_CASES))
        raise SystemExit(0)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    selection = Selection(targets_only=args.targets_only, names=args.case, profile=args.profile)
    if not any(selection.wants(case) for case in THROUGHPUT_CASES + TARGET_CASES):
        parser.error(f"no case matches {args.case}; --list shows the names")
    return selection


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    selection = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM ends the run like Ctrl-C: `run()`'s clean-up stops the servers it started.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        asyncio.run(run(selection, time.perf_counter()))
    except KeyboardInterrupt:
        print("interrupted: the servers this run started are stopped", file=sys.stderr)
        raise SystemExit(130) from None
    print((ROOT / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()

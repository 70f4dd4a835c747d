"""BENCHMARKS.md: one section per engine measured, replaced by a run on that engine only."""

from __future__ import annotations

import os
import platform
import re
import sys
from datetime import UTC, datetime

import beanie
import fastapi
import pymongo

from app import engine
from app.engine import EngineProfile
from bench.harness import ROOT, Report, Selection

READING = [
    "On the embedded FerretDB (SQLite) every command costs milliseconds and most filters are evaluated by scanning the collection in Go, so the database dominates every case and the app/floor ratios mostly measure FerretDB. Compare ratios within one run and one server; run `MONGODB_URL=… make bench` against MongoDB for production figures.",
    "Client, app, floor and the database share the machine's 2 cores, so throughput falls as concurrency rises: the server is saturated, not the app waiting on locks. The pool is the engine profile's choice (`app/engine/`): one connection per process on FerretDB v1, which does not isolate concurrent updates of one document; the driver's default elsewhere.",
    "Deterministic costs are asserted in the tests, not here: an append is 2 database commands (the bearer token's user and one findAndModify) at message 20 and at message 20,000; a list is 2; a version manifest is 2; bearer authentication is 1 read.",
    "The `/users/me` floors send what each way of signing in must: one read of the user for a bearer token; for an API key also the key's findAndModify by its hash, which counts its use (`usage {count, last_used_at}`, and a rate-limit `$inc` when the key has a limit).",
    "A reservation is 3 commands in app and floor (the user, one guarded `$inc` of the month's budget, the reservation). A site commit of one new file is 9 in app and floor: the user, the site's head, the upload lease's insert (it keeps the new blob from the collector until the version references it), the reuse check, the storage quota's guarded `$inc`, the chunk, the GridFS file document, the version's guarded update and the lease's delete. A version manifest is read from the process's manifest cache after its first read (a committed version never changes), so the app reads the site's card where the floor reads the whole document.",
    "The three usage-analytics targets fail on the embedded engine, each with its probe in the row: every FerretDB v1 write commits on its own and every filter but `_id` scans in Go. Batch ingest sends six commands per batch (journal, `insert_many`, rollup and budget increments, journal delete, release) where the floor sends one `insert_many`; measured per 1,000-event batch: the insert alone ~120 ms of ~320 ms, the rest split between the other commands and validation. Rebuild streams every event once: the raw driver's scan of the same million events alone takes about half of its time (the other half is summing and writing). A report reads one rollup per day (100 here) and FerretDB takes ~0.5 ms per such document, so a raw find of the same rollups is already ~19× `/users/me`'s single document; the app adds parsing and grouping. On MongoDB these are index reads; run `MONGODB_URL=… make bench` for those figures.",
    "How a throughput row is measured: per concurrency, app and floor alternate in 8 blocks of 1 second each (each pair in the order the last did not take), and each side's throughput is the median of its 8 blocks; the latencies are of every request of the 8. A pause of the shared machine (the database's vacuum, a checkpoint, another guest on the host) lands in one block of one side, and the median sets it aside. Before 2026-12-07 a row was 4 blocks of 30–100 requests (0.1–0.5 s) summed, and the same row moved by 10–30 points between runs.",
    "A reservation under a monthly limit reads the budget's new total back in the same command (one findAndModify, not an update) to see the thresholds it crosses (`budget.threshold` events); the floor sends the same since 2026-12-07.",
    "On the embedded engine (its section is from 2026-11-30) the floor measured appends and commits slower than the app although both send the same commands with the same filters; the cause was not found (not profiled).",
]


def versions_line(profile: EngineProfile) -> str:
    return (
        f"Python {platform.python_version()} ({sys.base_prefix}), FastAPI {fastapi.__version__}, Beanie {beanie.__version__}, "
        f"PyMongo {pymongo.version}; server: {profile.name} {profile.version}"
        + (" (embedded, SQLite)" if not os.environ.get("MONGODB_URL") else " (MONGODB_URL)")
    )


SECTION = re.compile(r"<!-- engine: (?P<name>.*?) -->\n(?P<body>.*?)<!-- /engine -->\n?", re.DOTALL)
# Written by hand from `python -m bench --profile DIR` runs; kept as it is by every run.
PROFILES = re.compile(r"<!-- profiles -->\n.*?<!-- /profiles -->\n?", re.DOTALL)


def engine_section(
    report: Report, *, profile: EngineProfile, selection: Selection, seconds: float, partial: bool
) -> str:
    """This run's section of BENCHMARKS.md: one engine, one run, its ratios from that run."""
    pool = engine.pool_size(profile, None) or 100
    lines = [
        f"## {profile.name} {profile.version}",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} ({seconds:.0f} s)"
        + (" — partial: the run had not finished when this was written" if partial else ""),
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        f"- versions: {versions_line(profile)}",
        f"- pool: {pool} connection(s) per process (the engine profile's choice, app and floor alike)",
        f"- cases: {', '.join(selection.names) if selection.names else ('targets only' if selection.targets_only else 'all')}",
        "- client, app (one uvicorn worker), floor and database share the machine's cores.",
        "",
        "### Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {value} | {'pass' if ok else 'FAIL'} |" for name, value, ok in report.targets
    ]
    lines += [
        "",
        "### Throughput and latency",
        "",
        "| case | concurrency | app req/s | app p50 ms | app p99 ms | floor req/s | floor p50 ms | floor p99 ms | app/floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        floor = row.floor
        lines.append(
            f"| {row.case} | {row.concurrency} | {row.app.throughput:.1f} | {row.app.p50_ms:.2f} | {row.app.p99_ms:.2f} | "
            + (
                f"{floor.throughput:.1f} | {floor.p50_ms:.2f} | {floor.p99_ms:.2f} | {row.ratio:.0%} |"
                if floor
                else "– | – | – | – |"
            )
        )
    if report.notes:
        lines += ["", "### Notes", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def write_markdown(
    report: Report,
    *,
    profile: EngineProfile,
    selection: Selection,
    seconds: float,
    partial: bool = False,
) -> None:
    """Replace this engine's section of BENCHMARKS.md, keep the other engines' sections.
    Written after each case (marked partial) and at the end, so a cut-off run keeps what it
    measured."""
    path = ROOT / "BENCHMARKS.md"
    existing = path.read_text() if path.exists() else ""
    sections = {m["name"]: m["body"] for m in SECTION.finditer(existing)}
    sections[f"{profile.name} {profile.version}"] = engine_section(
        report, profile=profile, selection=selection, seconds=seconds, partial=partial
    )
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench --help`). The floor is the same database",
        "operations issued directly with PyMongo's async client from a minimal ASGI app",
        "(`bench/floor.py`), measured in the same run against the same server; the ratio is the",
        "app's throughput over the floor's. One section per engine measured: a run replaces its",
        "engine's section only, so compare ratios within a section, never across sections.",
        "",
        "## Reading these numbers",
        "",
    ] + [f"- {note}" for note in READING]
    text = "\n".join(lines) + "\n"
    for name, body in sections.items():
        text += f"\n<!-- engine: {name} -->\n{body}<!-- /engine -->\n"
    if profiles := PROFILES.search(existing):
        text += "\n" + profiles.group(0)
    path.write_text(text)

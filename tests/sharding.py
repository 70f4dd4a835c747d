"""Sharding readiness, checked rather than promised.

On a cluster sharded by owner, a read or write of an owned collection whose filter does not
carry `owner_id` is sent to every shard. `ShardingAudit` watches every command this test
process sends (PyMongo command monitoring); a command issued by the app's code on an owned
collection without the owner in its filter is a finding, unless the code that sent it is on
the short allow-list below. `conftest.py` fails the session when there are findings.

What it cannot see: commands of the app processes the race and crash tests start (their own
interpreters); those run the same code paths as the in-process app.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import monitoring

from documents import GLOBAL_COLLECTIONS, OWNED_DOCUMENTS
from documents.blob import FILES

APP = str(Path(__file__).resolve().parent.parent / "app") + "/"

# Collection → the field that routes its queries to one shard. The small collections with
# global unique keys stay unsharded (`documents.GLOBAL_COLLECTIONS`, README "Scaling").
SHARD_KEYS = {
    model.Settings.name: "owner_id"
    for model in OWNED_DOCUMENTS
    if model.Settings.name not in GLOBAL_COLLECTIONS
} | {FILES: "metadata.owner_id"}

# Code that reads or writes across owners on purpose, and why.
ALLOWED = {
    # Jobs that sweep by date across every owner.
    "app/jobs/conversations.py",
    "app/jobs/cleanup.py",
    "app/storage/collection.py",
    "app/storage/leases.py",
    # Operators' tools over the whole database.
    "app/migrations/runner.py",
    "app/migrations/steps.py",
    "app/dump.py",
    "app/diagnostics/service.py",
    "app/database.py",
    "app/usage/rebuild.py",
    # The webhook dispatcher delivers every owner's due deliveries, by time.
    "app/webhooks/dispatcher.py",
}
# (module, function) pairs allowed one cross-owner command: the admin report, and public reads
# (`readable`/`public` scopes: the caller's own plus public documents).
ALLOWED_FUNCTIONS = {
    # The administrators' report over every user's usage.
    ("app/analytics/service.py", "usage_report"),
    # The fold of usage batches whose writer died, across owners (app start, cleanup, admin).
    ("app/usage/rollups.py", "fold_pending"),
    ("app/usage/rollups.py", "_sweep_batch_ids"),
    # The cleanup job's release of expired reservations, across owners.
    ("app/budgets/service.py", "release_expired"),
    # At start, the import jobs whose process stopped, across owners (by status and heartbeat).
    ("app/imports/service.py", "fail_interrupted"),
    # The trash's expiry, by `trashed_at` across owners (cleanup).
    ("app/trash/service.py", "expire_trash"),
    # An anonymous visitor of /p/{site_id}/ knows the site, not its owner; sharded, this lookup
    # would go through a small unsharded map of published site → owner.
    ("app/sites/service.py", "published_file"),
    # The events a crash kept from the outbox, across owners (dispatcher rounds, app start).
    ("app/webhooks/events.py", "relay_pending"),
    # Which owners anyone subscribes message events for (each process, every poll).
    ("app/webhooks/events.py", "refresh"),
}

FILTERS = {
    "find": lambda cmd: [cmd.get("filter", {})],
    "findAndModify": lambda cmd: [cmd.get("query", {})],
    "count": lambda cmd: [cmd.get("query", {})],
    "distinct": lambda cmd: [cmd.get("query", {})],
    "update": lambda cmd: [u.get("q", {}) for u in cmd.get("updates", [])],
    "delete": lambda cmd: [d.get("q", {}) for d in cmd.get("deletes", [])],
    "aggregate": lambda cmd: [
        (cmd.get("pipeline") or [{}])[0].get("$match", {}) if cmd.get("pipeline") else {}
    ],
}


def scoped(query: Any, key: str) -> bool:
    """Whether every document `query` can match has one known value of `key`: the key at the
    top level, in one branch of an `$and`, or in every branch of an `$or`."""
    if not isinstance(query, dict):
        return False
    if key in query:
        return True
    if any(scoped(part, key) for part in query.get("$and", [])):
        return True
    branches = query.get("$or")
    return bool(branches) and all(scoped(part, key) for part in branches)


def public_read(query: Any) -> bool:
    """A `readable`/`public` scope's filter: the owner's documents or the public ones."""
    branches = query.get("$or") if isinstance(query, dict) else None
    if branches is None and isinstance(query, dict):
        return any(public_read(part) for part in query.get("$and", []))
    return bool(branches) and any("owner_id" in b for b in branches if isinstance(b, dict))


@dataclass
class Finding:
    command: str
    collection: str
    query: Any
    origin: str


@dataclass
class ShardingAudit(monitoring.CommandListener):
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        extract = FILTERS.get(event.command_name)
        collection = event.command.get(event.command_name)
        key = SHARD_KEYS.get(collection) if isinstance(collection, str) else None
        if extract is None or key is None:
            return
        chain = _app_frames()
        if not chain:  # issued by the tests themselves, not by the app
            return
        self.checked += 1
        if any(m in ALLOWED or (m, f) in ALLOWED_FUNCTIONS for m, f in chain):
            return
        for query in extract(event.command):
            if not scoped(query, key) and not public_read(query):
                origin = " < ".join(f"{m}:{f}" for m, f in chain[:4])
                self.findings.append(Finding(event.command_name, collection, query, origin))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _app_frames() -> list[tuple[str, str]]:
    """The app's own frames that led to this command, innermost first (the listener runs
    inside the awaiting coroutine chain, so the chain is on the stack)."""
    chain = []
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(APP):
            chain.append(("app/" + filename[len(APP) :], frame.f_code.co_name))
        frame = frame.f_back
    return chain


AUDIT = ShardingAudit()

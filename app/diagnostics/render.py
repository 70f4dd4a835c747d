"""`genstore doctor`'s report as tables on the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from app.diagnostics.schemas import DoctorReport


def print_report(report: DoctorReport) -> None:
    out = Console(soft_wrap=True)
    engine = report.engine
    out.print(f"engine      {engine.name} {engine.version} (wire {engine.wire_version})")
    out.print(f"pool        {engine.pool_size} connection(s) per process")
    out.print(f"duplicates  {engine.duplicate_codes}")
    capabilities = Table(title="capabilities")
    capabilities.add_column("capability")
    capabilities.add_column("available")
    for name, available in engine.capabilities.items():
        capabilities.add_row(name, "yes" if available else "no")
    out.print(capabilities)
    for note in engine.notes:
        out.print(f"note: {note}")
    indexes = Table(title="indexes")
    for column in ("collection", "name", "keys", "state"):
        indexes.add_column(column)
    for index in report.indexes:
        style = {"missing": "red", "unexpected": "yellow"}.get(index.state, "")
        indexes.add_row(index.collection, index.name, index.keys, index.state, style=style)
    out.print(indexes)
    counts = Table(title="documents")
    counts.add_column("collection")
    counts.add_column("documents", justify="right")
    for row in report.collections:
        counts.add_row(row.collection, str(row.documents))
    out.print(counts)
    migrations = Table(title="migrations")
    for column in ("id", "state", "description"):
        migrations.add_column(column)
    for migration in report.migrations:
        style = "" if migration.state == "applied" else "red"
        migrations.add_row(migration.id, migration.state, migration.description, style=style)
    out.print(migrations)
    out.print("healthy" if report.healthy else "[red]not healthy[/red]")

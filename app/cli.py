"""`python -m app …`: the operator's commands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from bson import ObjectId
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from app.budgets.check import Drift, check_quotas
from app.command import run_with_database
from app.database import get_db
from app.diagnostics.render import print_report
from app.diagnostics.service import diagnose
from app.dump import DumpError, export_database, import_database
from app.imports.reader import BadExport, open_export
from app.imports.service import new_job, run_import
from app.jobs.cleanup import run_cleanup
from app.migrations.runner import MigrationLocked, migrate_down, migrate_up, status
from app.retention.service import RetentionReport, run_retention
from app.settings import get_settings
from app.tutorials.service import FixtureError, load_fixtures, seed_tutorials
from app.usage.rebuild import RebuildReport, rebuild_rollups
from app.usage.rollups import fold_pending
from app.users.service import promote_to_admin, user_by_email
from app.webhooks.cli import webhooks_cli
from documents.import_job import ImportJob

cli = typer.Typer(no_args_is_help=True, help="Operate the genstore backend.")
users_cli = typer.Typer(no_args_is_help=True, help="Manage users.")
dev_cli = typer.Typer(no_args_is_help=True, help="Development helpers.")
cli.add_typer(users_cli, name="users")
cli.add_typer(dev_cli, name="dev")
analytics_cli = typer.Typer(no_args_is_help=True, help="Usage rollups.")
cli.add_typer(analytics_cli, name="analytics")
quota_cli = typer.Typer(no_args_is_help=True, help="Spend budgets and storage use.")
cli.add_typer(quota_cli, name="quota")
console = Console(stderr=True, soft_wrap=True)
SEEDS = Path(__file__).resolve().parent.parent / "seeds"

T = TypeVar("T")


@cli.command()
def seed(
    check: Annotated[bool, typer.Option("--check", help="Validate only; write nothing")] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Fixture folder (default seeds/tutorials)")
    ] = None,
) -> None:
    """Load tutorial fixtures from seeds/ (idempotent)."""
    with Progress(console=console, transient=True) as progress:
        folder = directory or SEEDS / "tutorials"
        task = progress.add_task("validating fixtures", total=len(list(folder.glob("*.json"))))
        try:
            fixtures = load_fixtures(folder, progress=lambda _: progress.advance(task))
        except FixtureError as exc:
            for problem in exc.problems:
                console.print(f"[red]{problem}[/red]")
            console.print(f"[red]{len(exc.problems)} problem(s); nothing was written.[/red]")
            raise typer.Exit(1) from exc
    if check:
        console.print(f"{len(fixtures)} fixtures are valid.")
        return
    report = run_with_database(lambda: seed_tutorials(fixtures))
    console.print(
        f"tutorials: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged"
    )
    for slug in report.created:
        console.print(f"  created  {slug}")
    for slug in report.updated:
        console.print(f"  updated  {slug}")


@users_cli.command()
def promote(email: str) -> None:
    """Give a user the admin role."""
    found = run_with_database(lambda: promote_to_admin(email))
    if not found:
        console.print(f"[red]No user with email {email}.[/red]")
        raise typer.Exit(1)
    console.print(f"{email} is an administrator.")


@cli.command()
def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, delete nothing")] = False,
) -> None:
    """Expire conversations, collect unreferenced blobs, prune rate-limit windows."""
    report = run_with_database(lambda: run_cleanup(dry_run=dry_run))
    table = Table(title="cleanup (dry run: nothing deleted)" if dry_run else "cleanup")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in report.as_dict().items():
        if key != "dry_run":
            table.add_row(key.replace("_", " "), str(value))
    Console().print(table)


def _day(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)") from exc


@analytics_cli.command("rebuild")
def analytics_rebuild(
    from_: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this user (email)")] = None,
) -> None:
    """Recompute usage rollups from the events (idempotent; all days and users by default).
    Run it while the period's events are not being recorded (README "Usage and analytics")."""
    first, last = _day(from_), _day(to)

    async def work() -> RebuildReport:
        owner_id = None
        if owner is not None:
            user = await user_by_email(owner)
            if user is None:
                console.print(f"[red]No user {owner}.[/red]")
                raise typer.Exit(1)
            owner_id = ObjectId(str(user.id))
        await fold_pending(owner_id, older_than=timedelta(0))
        with Progress(console=console, transient=False) as progress:
            tasks: dict[str, TaskID] = {}

            def step(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(phase, total=total)
                progress.update(tasks[phase], completed=done, total=total)

            return await rebuild_rollups(
                get_db(), first_day=first, last_day=last, owner_id=owner_id, progress=step
            )

    report = run_with_database(work)
    console.print(
        f"rebuilt {report.rollups} rollups from {report.events} events; "
        f"removed {report.removed} that had no events left"
    )


@quota_cli.command("check")
def quota_check(
    fix: Annotated[bool, typer.Option("--fix", help="Set each counter to its exact value")] = False,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this user (email)")] = None,
) -> None:
    """Recompute every user's spend (from the usage ledger and open reservations) and storage
    use (from blob references); report the drift, or repair it with --fix. Exit 1 on drift
    without --fix."""

    async def work() -> list[Drift]:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("users", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await check_quotas(fix=fix, email=owner, progress=step)

    drifts = run_with_database(work)
    for drift in drifts:
        console.print(f"{drift.user}: {drift.what} recorded {drift.recorded}, exact {drift.exact}")
    verb = "fixed" if fix else "found"
    console.print(f"drift: {len(drifts)} counter(s) {verb}")
    if drifts and not fix:
        raise typer.Exit(1)


retention_cli = typer.Typer(no_args_is_help=True, help="Retention policies.")
cli.add_typer(retention_cli, name="retention")
cli.add_typer(webhooks_cli, name="webhooks")


@retention_cli.command("apply")
def retention_apply(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would move, move nothing")
    ] = False,
) -> None:
    """Move what the retention policy expires into the trash now (README "Data lifecycle"):
    per user and kind, items and bytes. Safe to rerun and to run beside another process."""

    async def work() -> RetentionReport:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("users", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await run_retention(dry_run=dry_run, on_user=step)

    report = run_with_database(work)
    table = Table(title="retention (dry run: nothing moved)" if dry_run else "retention")
    for column in ("user", "kind", "items", "bytes"):
        table.add_column(column, justify="right" if column in ("items", "bytes") else "left")
    for moved in report.moved:
        table.add_row(str(moved.user_id), moved.kind, str(moved.items), str(moved.bytes))
    Console().print(table)
    verb = "would move" if dry_run else "moved"
    console.print(
        f"{verb} {report.items} item(s) of {report.users} user(s) to the trash; "
        f"{report.held} user(s) skipped: under a legal hold"
    )


@cli.command("import-chats")
def import_chats(
    file: Path,
    user: Annotated[str, typer.Option("--user", help="The owner's email")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; write nothing")] = False,
    format_: Annotated[
        str | None, typer.Option("--format", help="Skip detection: chatgpt, claude, ...")
    ] = None,
) -> None:
    """Import a chat-history export (JSON or ZIP) for a user, as `POST /api/v1/imports` does,
    with a progress bar; the job is listed with the user's imports. Exit 1 when it fails."""

    async def work() -> ImportJob:
        owner = await user_by_email(user)
        if owner is None:
            console.print(f"[red]No user {user}.[/red]")
            raise typer.Exit(1)
        try:
            export = await asyncio.to_thread(open_export, file, format_)  # type: ignore[arg-type]
        except (BadExport, OSError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        job = await new_job(owner, export, filename=file.name, dry_run=dry_run)
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task(f"{export.kind} export", total=export.progress.total)

            def step(read: int, total: int) -> None:
                progress.update(task, completed=read, total=total)

            return await run_import(job, export, get_settings(), on_progress=step)

    job = run_with_database(work)
    for item in job.report:
        line = f"{item.outcome:9} {item.source_id}  {item.title or ''}"
        extra = f" (+{item.messages_added} messages)" if item.messages_added else ""
        console.print(line + extra + (f": {item.error}" if item.error else ""))
        for problem in item.problems:
            console.print(f"          {problem}")
    counts = job.counts
    console.print(
        f"{'would import' if dry_run else 'imported'}: {counts.conversations_created} created, "
        f"{counts.conversations_updated} updated, {counts.conversations_unchanged} unchanged, "
        f"{counts.conversations_failed} failed; {counts.messages} messages"
    )
    if job.status != "done":
        console.print(f"[red]{job.error}[/red]")
        raise typer.Exit(1)


@cli.command("export")
def export_dump(directory: Path) -> None:
    """Write a portable dump of the database (collections and blobs) to DIRECTORY."""
    with _progress() as step:
        summary = run_with_database(lambda: export_database(directory, step))
    _print_summary("exported", summary)


@cli.command("import")
def import_dump(
    directory: Path,
    force: Annotated[bool, typer.Option("--force", help="Allow a non-empty target")] = False,
) -> None:
    """Restore a dump written by `export`."""
    try:
        with _progress() as step:
            summary = run_with_database(
                lambda: import_database(directory, force=force, progress=step)
            )
    except DumpError as exc:
        console.print(f"[red]Refused: {exc}. Nothing was written.[/red]")
        raise typer.Exit(1) from exc
    _print_summary("imported", summary)


@contextmanager
def _progress() -> Iterator[Callable[[str, int], None]]:
    """A progress bar per collection (and one for blobs), advanced as work is done."""
    with Progress(console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def step(name: str, amount: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=None)
            progress.advance(tasks[name], amount)

        yield step


def _print_summary(verb: str, summary) -> None:  # type: ignore[no-untyped-def]
    for name, count in summary.collections.items():
        console.print(f"{verb} {count:>8} {name}")
    console.print(f"{verb} {summary.blobs:>8} blobs ({summary.blob_bytes} bytes)")


@cli.command()
def migrate(
    list_: Annotated[bool, typer.Option("--list", help="Show migrations and their state")] = False,
    down: Annotated[int | None, typer.Option("--down", min=1, help="Roll back the last N")] = None,
) -> None:
    """Apply schema migrations."""

    async def work() -> None:
        db = get_db()
        try:
            if list_:
                table = Table(title="migrations")
                for column in ("id", "state", "applied at", "description"):
                    table.add_column(column)
                for item in await status(db):
                    table.add_row(item.id, item.state, str(item.applied_at or ""), item.description)
                Console().print(table)
                return
            if down is not None:
                reverted = await migrate_down(db, down)
                console.print(f"reverted: {', '.join(reverted) or 'nothing'}")
                return
            applied = await migrate_up(db)
            console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
        except MigrationLocked as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc

    run_with_database(work, create_indexes=False)


@cli.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """The engine and its capabilities, the pool in use, declared indexes (present, missing,
    unexpected), documents per collection and pending migrations. Exit 1 when an index is
    missing or a migration is pending."""
    report = run_with_database(diagnose, create_indexes=False)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print_report(report)
    if not report.healthy:
        raise typer.Exit(1)


@dev_cli.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Drop the development database (refused when APP_ENV=production)."""
    settings = get_settings()
    if settings.app_env == "production":
        console.print("[red]Refused: `dev reset` never runs with APP_ENV=production.[/red]")
        raise typer.Exit(1)
    if not yes and not typer.confirm(f"Drop the database {settings.mongodb_db!r}?"):
        raise typer.Exit(1)

    async def work() -> None:
        await get_db().client.drop_database(settings.mongodb_db)

    run_with_database(work, create_indexes=False)
    console.print(f"dropped {settings.mongodb_db}; the next start recreates its indexes")

"""`python -m app …`: the operator's commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from app import database
from app.settings import get_settings

cli = typer.Typer(no_args_is_help=True, help="Operate the genstore backend.")
users_cli = typer.Typer(no_args_is_help=True, help="Manage users.")
dev_cli = typer.Typer(no_args_is_help=True, help="Development helpers.")
cli.add_typer(users_cli, name="users")
cli.add_typer(dev_cli, name="dev")
console = Console(stderr=True)
SEEDS = Path(__file__).resolve().parent.parent / "seeds"

T = TypeVar("T")


def run_with_database(work: Callable[[], Awaitable[T]]) -> T:
    """Connect, run one command's work, disconnect."""

    async def main() -> T:
        try:
            await database.connect(get_settings())
        except database.DatabaseNotConfigured as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        try:
            return await work()
        finally:
            await database.disconnect()

    return asyncio.run(main())


def not_built(command: str) -> None:
    console.print(f"[red]`{command}` is not available in this version yet.[/red]")
    raise typer.Exit(3)


@cli.command()
def seed(
    check: Annotated[bool, typer.Option("--check", help="Validate only; write nothing")] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Fixture folder (default seeds/tutorials)")
    ] = None,
) -> None:
    """Load tutorial fixtures from seeds/ (idempotent)."""
    from rich.progress import Progress

    from app.tutorials.service import FixtureError, load_fixtures, seed_tutorials

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
    from app.users.service import promote_to_admin

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
    from rich.table import Table

    from app.cleanup import run_cleanup

    report = run_with_database(lambda: run_cleanup(dry_run=dry_run))
    table = Table(title="cleanup (dry run: nothing deleted)" if dry_run else "cleanup")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in report.as_dict().items():
        if key != "dry_run":
            table.add_row(key.replace("_", " "), str(value))
    Console().print(table)


@cli.command("export")
def export_dump(directory: Path) -> None:
    """Write a portable dump of the database (collections and blobs) to DIRECTORY."""
    not_built("export")


@cli.command("import")
def import_dump(
    directory: Path,
    force: Annotated[bool, typer.Option("--force", help="Allow a non-empty target")] = False,
) -> None:
    """Restore a dump written by `export`."""
    not_built("import")


@cli.command()
def migrate(
    list_: Annotated[bool, typer.Option("--list", help="Show migrations and their state")] = False,
    down: Annotated[int | None, typer.Option("--down", help="Roll back the last N")] = None,
) -> None:
    """Apply schema migrations."""
    not_built("migrate")


@dev_cli.command()
def reset() -> None:
    """Drop the development database."""
    not_built("dev reset")

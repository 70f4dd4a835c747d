"""What every `genstore` command shares (`app/cli.py` and the areas' own commands): one
connection to the database for one command's work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

from app import database
from app.settings import get_settings

T = TypeVar("T")


def run_with_database(work: Callable[[], Awaitable[T]], *, create_indexes: bool = True) -> T:
    """Connect, run one command's work, disconnect."""

    async def main() -> T:
        try:
            await database.connect(get_settings(), create_indexes=create_indexes)
        except database.DatabaseNotConfigured as exc:
            Console(stderr=True).print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        try:
            return await work()
        finally:
            await database.disconnect()

    return asyncio.run(main())

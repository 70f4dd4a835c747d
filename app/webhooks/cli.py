"""`genstore webhooks …`: the dispatcher for operators (the app processes run it by themselves)."""

from __future__ import annotations

import typer
from rich.console import Console

from app.command import run_with_database
from app.settings import get_settings
from app.webhooks import dispatcher

webhooks_cli = typer.Typer(no_args_is_help=True, help="Webhook deliveries.")


@webhooks_cli.command("deliver")
def webhooks_deliver() -> None:
    """Run the webhook dispatcher once: relay owed events, fan out, send what is due."""

    async def work() -> dispatcher.RoundReport:
        async with dispatcher.client() as http:
            return await dispatcher.deliver_round(http, get_settings())

    report = run_with_database(work)
    Console().print(
        f"{report.relayed} relayed, {report.fanned_out} deliveries made, "
        f"{report.delivered} delivered, {report.failed_attempts} failed attempts"
    )

"""The app's own fold of dead writers' usage batches: at start, then once per fold grace, so
the rollups heal without a report or an operator asking (`app/usage/rollups.py`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.usage.rollups import fold_pending

log = logging.getLogger("app.jobs.rollups")
MIN_INTERVAL_S = 5.0


async def fold_forever(fold_after: timedelta) -> None:
    interval = max(fold_after.total_seconds(), MIN_INTERVAL_S)
    while True:
        try:
            report = await fold_pending(older_than=fold_after)
            if report.batches:
                log.warning(
                    "folded %d usage batches (%d events) left by a writer that died",
                    report.batches,
                    report.events,
                )
        except Exception:  # the database may be down: try again next round
            log.exception("folding usage batches failed")
        await asyncio.sleep(interval)

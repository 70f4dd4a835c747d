"""The README's first session works when pasted: the block between its `quickstart` markers,
run by bash against the app in its own process, ends with mongosh printing the usage the block
recorded."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from app.embedded_server import database_url
from app.settings import Settings, get_settings
from tests.servers import served_app

ROOT = Path(__file__).resolve().parent.parent


def quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart -->\n```sh\n(.*?)```\n<!-- /quickstart -->", readme, re.S)
    assert match, "README.md has no quickstart block"
    return match.group(1)


async def test_the_readme_quickstart_prints_the_usage_it_recorded(
    settings: Settings, mongo_url: str
) -> None:
    async with served_app(settings) as served:
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            quickstart(),
            cwd=ROOT,
            env={
                **os.environ,
                # The app's address; the block finds the database from MONGODB_URL, as it does
                # for a user who set it (`make run` records the embedded server's otherwise).
                "BASE": served.base_url,
                "MONGODB_URL": mongo_url,
                "MONGODB_DB": settings.mongodb_db,
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=180)
    output = stdout.decode()
    assert process.returncode == 0, stderr.decode() + output
    # The table has every user's models of today (other tests' too); this block's is gpt-4o.
    rows = [line.split() for line in output.splitlines()]
    assert ["gpt-4o", "1", "1500", "0.010500"] in rows, output
    assert "(no rows)" not in output


def test_the_database_url_names_the_apps_database_and_keeps_its_options() -> None:
    db = get_settings().mongodb_db
    assert database_url("mongodb://127.0.0.1:27018/") == f"mongodb://127.0.0.1:27018/{db}"
    assert database_url("mongodb://h:27017/?replicaSet=rs0&directConnection=true") == (
        f"mongodb://h:27017/{db}?replicaSet=rs0&directConnection=true"
    )
    assert database_url("mongodb://u:p@a:1,b:2/other?tls=true") == (
        f"mongodb://u:p@a:1,b:2/{db}?tls=true"
    )

"""Session fixtures: a real server (the embedded FerretDB, or MONGODB_URL), a throw-away
database for this run, the app under its lifespan, and HTTP clients on it."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pymongo import MongoClient, monitoring

from app import engine
from app.embedded_server import EmbeddedServer, free_port
from app.main import create_app
from app.settings import Settings
from tests.factories import TestUser, register_user
from tests.racing import Racers, start_racers, stop_racers
from tests.sharding import AUDIT

# Every client this process creates reports its commands to the sharding audit.
monitoring.register(AUDIT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that races actors over the app's processes is marked `race` (`-m race`)."""
    for item in items:
        if "racers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.race)


# What the workers of a parallel run (pytest-xdist) audited, gathered by the controller.
_WORKER_AUDITS: list[dict] = []


def _audit_lines() -> list[str]:
    return [f"  {f.command} {f.collection} {f.query!r} from {f.origin}" for f in AUDIT.findings]


def pytest_testnodedown(node: object, error: object) -> None:
    """Controller of a parallel run: keep what a finished worker audited."""
    output = getattr(node, "workeroutput", None)
    if output and "sharding_audit" in output:
        _WORKER_AUDITS.append(output["sharding_audit"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the app sent a command that a cluster sharded by owner would have to
    send to every shard (tests/sharding.py). Each worker of a parallel run hands its audit to
    the controller, which judges them all."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a worker: the controller judges
        workeroutput["sharding_audit"] = {"lines": _audit_lines(), "checked": AUDIT.checked}
        return
    lines = _audit_lines() + [line for audit in _WORKER_AUDITS for line in audit["lines"]]
    checked = AUDIT.checked + sum(audit["checked"] for audit in _WORKER_AUDITS)
    if lines:
        print("\nsharding audit: commands without owner_id on owned collections:", *lines, sep="\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif session.testscollected >= 100 and checked == 0:
        print("\nsharding audit: no command of the app was checked")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedServer | None]:
    """The FerretDB this run started, or None when MONGODB_URL names a server."""
    if os.environ.get("MONGODB_URL"):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="genstore-test-") as data_dir:
        server = EmbeddedServer(data_dir=data_dir, port=free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def mongo_url(embedded_server: EmbeddedServer | None) -> str:
    return embedded_server.url if embedded_server else os.environ["MONGODB_URL"]


EXTERNAL_ISSUER = "https://idp.test/"


@pytest.fixture(scope="session")
def idp_private_key() -> rsa.RSAPrivateKey:
    """The external identity provider's signing key; the app trusts its public half."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def settings(mongo_url: str, idp_private_key: rsa.RSAPrivateKey) -> Iterator[Settings]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    public_pem = idp_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = Settings(
        app_env="test",
        mongodb_url=mongo_url,
        mongodb_db=name,
        max_upload_bytes=8 * 1024 * 1024,
        public_base_url="http://sites.test",
        external_jwt_issuer=EXTERNAL_ISSUER,
        external_jwt_public_key=public_pem.decode(),
        mail_backend="memory",
        import_stale_seconds=10,  # a killed process's import is failed within seconds
        # Webhooks go to receivers on loopback, retried within tenths of a second.
        webhook_allow_private=True,
        webhook_poll_s=1.0,
        webhook_retry_base_s=0.1,
        webhook_retry_max_s=0.5,
        sse_poll_s=0.05,
        sse_max_s=5.0,
    )
    yield settings
    client: MongoClient = MongoClient(mongo_url, serverSelectionTimeoutMS=2000)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application
        await _no_counter_drift_after_the_run()


async def _no_counter_drift_after_the_run() -> None:
    """After every test of this run (races, kills, deletes): `genstore quota check` finds every
    user's spend and storage counters exact. Where the engine does not isolate concurrent
    updates of one document, the races across processes lose `$inc`s by design (README
    "Engines"), so the check runs only where it isolates."""
    from app.budgets.check import check_quotas

    if not engine.profile().isolated_updates:
        return
    drifts = await check_quotas(fix=False)
    assert drifts == [], "counter drift after the run: " + "; ".join(
        f"{d.user} {d.what}: recorded {d.recorded}, exact {d.exact}" for d in drifts
    )


@pytest.fixture(autouse=True)
def _isolation_required(request: pytest.FixtureRequest) -> None:
    """Skip, saying why, a `needs_isolation` race on an engine that does not isolate."""
    if request.node.get_closest_marker("needs_isolation") is None:
        return
    request.getfixturevalue("app")
    profile = engine.profile()
    if not profile.isolated_updates:
        pytest.skip(
            f"{profile.name} {profile.version} does not isolate concurrent updates of one "
            "document across connections; run with MONGODB_URL on FerretDB v2 or MongoDB"
        )


@pytest.fixture(scope="session")
async def racers(app: FastAPI) -> AsyncIterator[Racers]:
    """The app in several processes with normal pools (tests/racing.py)."""
    started = await start_racers(app.state.settings)
    try:
        assert all(size > 1 for size in await started.pool_sizes())
        yield started
    finally:
        await stop_racers(started)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> TestUser:
    return await register_user(client, name="Alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> TestUser:
    return await register_user(client, name="Bob")


@pytest.fixture
async def admin(client: httpx.AsyncClient, settings: Settings) -> TestUser:
    """A user with the admin role (`users promote`)."""
    from tests.test_cli import run_cli

    user = await register_user(client, name="Admin")
    await run_cli(settings, "users", "promote", user.email)
    return user


@pytest.fixture(scope="session")
async def seeded_tutorials(app: FastAPI) -> list[str]:
    """The shipped fixtures, loaded the way `python -m app seed` loads them."""
    from app.tutorials.service import load_fixtures, seed_tutorials

    fixtures = load_fixtures()
    await seed_tutorials(fixtures)
    return [fixture["slug"] for fixture in fixtures]

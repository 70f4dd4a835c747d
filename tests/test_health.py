import asyncio
import time

import httpx
import pytest

from app.embedded_server import EmbeddedServer
from app.settings import Settings
from tests.factories import TestUser


async def test_healthz_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_metrics_count_route_templates(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no/such/path/123")
    text = (await client.get("/metrics")).text
    assert 'route="/healthz"' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "/no/such/path/123" not in text  # raw paths never become label values
    assert 'route="unmatched"' in text


async def test_request_id_is_returned_and_generated(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/healthz", headers={"X-Request-ID": "bad id\n"})).headers
    assert generated["x-request-id"] != "bad id\n" and len(generated["x-request-id"]) == 32


async def test_database_down_gives_503_and_recovers_without_restart(
    client: httpx.AsyncClient, embedded_server: EmbeddedServer | None
) -> None:
    if embedded_server is None:
        pytest.skip("stopping the database needs the embedded server (MONGODB_URL is set)")
    embedded_server.stop()
    try:
        started = time.monotonic()
        down = await client.get("/healthz")
        assert time.monotonic() - started < 3.5
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.headers["retry-after"]
        problem = down.json()
        assert problem["status"] == 503 and "Traceback" not in down.text
    finally:
        await asyncio.to_thread(embedded_server.start)
    for _ in range(50):
        response = await client.get("/healthz")
        if response.status_code == 200:
            break
        await asyncio.sleep(0.2)
    assert response.status_code == 200


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert set(missing.json()) >= {"type", "title", "status", "detail"}
    wrong_method = await client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405


def test_secret_key_defaults_are_refused_in_production() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(app_env="production", secret_key="changeme")
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(app_env="production", secret_key="")
    production = Settings(app_env="production", secret_key="x" * 40)
    assert production.secret_key == "x" * 40
    development = Settings(app_env="development", secret_key="")
    assert len(development.secret_key) >= 32


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError):
        Settings(port=70000)
    with pytest.raises(ValueError):
        Settings(app_env="staging")


async def test_a_json_body_without_content_type_is_refused_and_says_why(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    body = b'{"title": "no content type"}'
    for content_type in ({}, {"Content-Type": "text/plain"}):
        refused = await client.post(
            "/api/v1/conversations", content=body, headers={**alice.headers, **content_type}
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert "Content-Type: application/json" in refused.json()["detail"]
    accepted = await client.post(
        "/api/v1/conversations",
        content=body,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert accepted.status_code == 201


def test_public_base_url_follows_the_port() -> None:
    assert Settings(port=9000, public_base_url="").public_base_url == "http://127.0.0.1:9000"
    assert Settings(public_base_url="https://x.test").public_base_url == "https://x.test"

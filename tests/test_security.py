"""Security properties that have no better home: password hashing parameters, body and array
limits, CORS, and a hundred concurrent appends to one conversation."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from documents.user import User
from tests.factories import TestUser
from tests.racing import Racers, needs_isolation


async def test_passwords_are_argon2id_with_owasp_parameters(alice: TestUser) -> None:
    user = await User.find_one({"email": alice.email})
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_a_50_mb_json_body_is_refused_before_parsing(
    client: httpx.AsyncClient, alice: TestUser, app: FastAPI
) -> None:
    huge = b'{"title": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    declared = await client.post(
        "/api/v1/conversations",
        content=huge,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert (
        declared.status_code == 413
        and declared.headers["content-type"] == "application/problem+json"
    )

    async def chunked():
        for _ in range(50):
            yield b"x" * (1024 * 1024)

    streamed = await client.post(
        "/api/v1/conversations",
        content=chunked(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert time.monotonic() - started < 20


async def test_a_body_without_length_over_http_2_is_still_limited(
    app: FastAPI, alice: TestUser
) -> None:
    """HTTP/1 without Content-Length or Transfer-Encoding has no body, so the limit lets such a
    request through unread; over HTTP/2 a body may come without either and is counted."""
    chunk = b"x" * (1024 * 1024)
    pending = [chunk] * 50
    sent: list[dict] = []

    async def receive() -> dict:
        body = pending.pop() if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in alice.headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "POST",
        "scheme": "https",
        "path": "/api/v1/conversations",
        "raw_path": b"/api/v1/conversations",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 443),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(pending) > 30  # refused once past the limit, not after reading everything


async def test_arrays_in_bodies_are_bounded(client: httpx.AsyncClient, alice: TestUser) -> None:
    too_many_ids = {"ids": ["0" * 24] * 101, "action": "archive"}
    assert (
        await client.post("/api/v1/conversations/bulk", json=too_many_ids, headers=alice.headers)
    ).status_code == 422
    changes = [{"path": f"f{i}.txt", "content": "x"} for i in range(501)]
    assert (
        await client.post(
            "/api/v1/sites", json={"title": "t", "files": changes}, headers=alice.headers
        )
    ).status_code == 422
    phases = {"prompt": "p", "phases": [f"p{i}" for i in range(21)]}
    assert (
        await client.post("/api/v1/workflows", json=phases, headers=alice.headers)
    ).status_code == 422
    deep: dict = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    assert (
        await client.post("/api/v1/conversations", json={"context": deep}, headers=alice.headers)
    ).status_code == 422


async def test_cors_is_off_by_default_and_configurable() -> None:
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    closed = create_app(Settings(app_env="test", mongodb_url="mongodb://unused"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=closed), base_url="http://test"
    ) as client:
        response = await client.options("/api/v1/conversations", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    opened = create_app(
        Settings(
            app_env="test", mongodb_url="mongodb://unused", cors_origins=["https://app.example.com"]
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=opened), base_url="http://test"
    ) as client:
        response = await client.options("/api/v1/conversations", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"


@needs_isolation
async def test_a_hundred_concurrent_appends_get_seq_1_to_100(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """A hundred appends to one conversation over separate connections (tests/racing.py)."""
    conversation = (
        await client.post("/api/v1/conversations", json={}, headers=alice.headers)
    ).json()
    responses = await racers.race(
        [
            lambda http, i=i: http.post(
                f"/api/v1/conversations/{conversation['id']}/messages",
                json={"role": "user", "content": f"{i}"},
                headers=alice.headers,
            )
            for i in range(100)
        ]
    )
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 101))


async def test_a_refused_body_carries_the_request_id_and_with_cors_its_headers() -> None:
    """The body limit shares the request-context layer without CORS and sits inside CORS with
    it: either way a 413 is logged with its request id, and a browser can read it."""
    too_big = b"{" + b" " * 4096 + b"}"
    headers = {"Content-Type": "application/json", "Origin": "https://app.example.com"}
    for origins in ([], ["https://app.example.com"]):
        settings = Settings(
            app_env="test",
            mongodb_url="mongodb://unused",
            cors_origins=origins,
            max_json_bytes=1024,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://test"
        ) as client:
            response = await client.post(
                "/api/v1/conversations",
                content=too_big,
                headers={**headers, "X-Request-ID": "refused-1"},
            )
        assert response.status_code == 413
        assert response.headers["x-request-id"] == "refused-1"
        allowed = response.headers.get("access-control-allow-origin")
        assert allowed == (origins[0] if origins else None)

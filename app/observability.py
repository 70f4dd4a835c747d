"""Request ids, structured JSON logs, Prometheus metrics and the JSON body limit.

All pure ASGI middleware: they sit on every request, so they stay cheap and never buffer
bodies. Logs carry method, route template, status and timing — never bodies, headers with
credentials, tokens or message content.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pymongo import monitoring
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route template.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@functools.cache
def labelled(metric: Any, *values: str) -> Any:
    """The metric's series for these label values, looked up once: `labels()` converts,
    checks and locks on every call, and the hot paths (every request, every database command)
    see a handful of values. Label values here are bounded (route templates, command names)."""
    return metric.labels(*values)


_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("method", "route", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # The driver and the server log their own details (hosts, commands); keep them quiet.
    for noisy in ("pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


access_log = logging.getLogger("app.access")


class RequestContextMiddleware:
    """Assigns the request id, measures the request, logs it and counts it per route template;
    with `body_limit`, also refuses JSON bodies over that many bytes (`limit_json_body`).

    One layer for both when nothing sits between them: each ASGI layer is a coroutine and a
    headers scan on every request. With CORS on, the limit is its own `BodyLimitMiddleware`
    inside CORS, so that a browser can read the 413."""

    def __init__(self, app: ASGIApp, body_limit: int | None = None) -> None:
        self.app = app
        self.body_limit = body_limit

    @staticmethod
    def _template(scope: Scope) -> str:
        """The matched route's full template (`/api/v1/conversations/{conversation_id}`): the
        app's routes are built at their full paths (`app/routing.py`)."""
        return getattr(scope.get("route"), "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        # A fresh id: 16 random bytes in hex, a uuid4's shape without building one.
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            if self.body_limit is None:
                await self.app(scope, receive, send_with_id)
            else:
                await limit_json_body(
                    self.app, self.body_limit, headers, scope, receive, send_with_id
                )
        finally:
            elapsed = time.perf_counter() - started
            template = self._template(scope)
            method = scope["method"]
            labelled(REQUESTS, method, template, str(status)).inc()
            labelled(LATENCY, method, template).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """`limit_json_body` as a layer of its own (inside CORS, see `RequestContextMiddleware`)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await limit_json_body(self.app, self.limit, dict(scope["headers"]), scope, receive, send)


async def limit_json_body(
    app: ASGIApp,
    limit: int,
    headers: dict[bytes, bytes],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Runs `app`, refusing a JSON body over `limit` bytes before it is parsed (413).

    Uploads are multipart and are limited by the files area while they stream.
    """
    content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
    if content_type.startswith("multipart/"):
        await app(scope, receive, send)
        return
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await _too_large(limit)(scope, receive, send)
        return
    http1 = scope.get("http_version") in ("1.0", "1.1")
    if declared is not None or (http1 and b"transfer-encoding" not in headers):
        # The server stops at Content-Length; an HTTP/1 request with neither header has no
        # body (RFC 9112 6.3). An HTTP/2 body may come without either: read below.
        await app(scope, receive, send)
        return
    # A chunked body of unknown length: read it (it is JSON, so at most `limit` bytes) and
    # replay it, refusing as soon as it passes the limit.
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            await _too_large(limit)(scope, receive, send)
            return
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    await app(scope, replay, send)


def _too_large(limit: int) -> Response:
    return problem(413, f"The request body is larger than {limit} bytes.")


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


_CAPTURE: ContextVar[list[str] | None] = ContextVar("command_capture", default=None)


class CommandRecorder(monitoring.CommandListener):
    """Counts the database commands the app issues: `db_commands_total` for Prometheus, and
    `capture()` for tests that assert how many round trips a request costs.

    A capture sees the commands of its own context only — the code it calls and the tasks
    that code starts — never those of background work running meanwhile (the webhook
    dispatcher, feeds): the listener runs in the task that sends the command."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        labelled(DB_COMMANDS, event.command_name).inc()
        capture = _CAPTURE.get()
        if capture is not None:
            capture.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        DB_COMMAND_FAILURES.labels(event.command_name).inc()

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        names: list[str] = []
        token = _CAPTURE.set(names)
        try:
            yield names
        finally:
            _CAPTURE.reset(token)


DB_COMMANDS = Counter("db_commands_total", "Database commands issued.", ["command"])
SHARE_VIEWS = Counter("share_views_total", "Views of share links.", ["resource"])
DB_POOL_SIZE = Gauge("db_pool_max_size", "Connections this process may open to the database.")
DB_COMMAND_FAILURES = Counter("db_command_failures_total", "Database commands failed.", ["command"])
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total", "Webhook delivery attempts, by outcome.", ["outcome"]
)
WEBHOOK_OUTBOX = Gauge("webhook_outbox_depth", "Webhook deliveries pending (last dispatch round).")
SSE_CLIENTS = Gauge("sse_clients", "Event-stream clients connected to this process.")
SSE_FEEDS = Gauge("sse_conversation_feeds", "Conversations this process reads for its streams.")
command_recorder = CommandRecorder()

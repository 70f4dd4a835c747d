"""The AppError family and the handlers that turn every error into RFC 9457 problem+json.

Services raise AppError subclasses and never know about HTTP responses; this module is the one
place where an error becomes a status code, a body and headers.
"""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import engine

log = logging.getLogger("app.errors")

PROBLEM_JSON = "application/problem+json"


class ProblemFieldError(BaseModel):
    """One invalid input: where it is and what is wrong with it."""

    loc: list[str] = Field(
        description="Path to the input: `body`, `query`, `path` or `header`, then field names "
        'and list indexes, e.g. `["body", "events", "3", "cost_usd"]`'
    )
    msg: str
    type: str | None = Field(default=None, description="Machine-readable kind of the error")


class Problem(BaseModel):
    """Every error this API returns, as `application/problem+json` (RFC 9457)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = Field(
        default="about:blank",
        description="A URI naming the kind of problem; `about:blank` when the status says it all",
    )
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong this time, for a person")
    instance: str | None = None
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="On 422 (and some 400s): each invalid input"
    )
    remaining_usd: str | None = Field(
        default=None, description="On 402: what is left of the monthly budget, exact decimal"
    )
    scope: str | None = Field(
        default=None, description="On 402: which budget refused, `user` or `api_key`"
    )
    limit_bytes: int | None = Field(default=None, description="On 403 storage quota: the limit")


class AppError(Exception):
    status: int = 400
    title: str = "Bad request"
    type: str = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions or {}  # RFC 9457 extension members, e.g. `remaining_usd`


class BadRequest(AppError):
    status, title = 400, "Bad request"


class Unauthorized(AppError):
    status, title = 401, "Not authenticated"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status, title = 403, "Forbidden"


class NotFound(AppError):
    status, title = 404, "Not found"


class Conflict(AppError):
    status, title = 409, "Conflict"


class Gone(AppError):
    status, title = 410, "Gone"


class PreconditionFailed(AppError):
    status, title = 412, "Precondition failed"


class PayloadTooLarge(AppError):
    status, title = 413, "Payload too large"


class UnsupportedMediaType(AppError):
    status, title = 415, "Unsupported media type"


class RangeNotSatisfiable(AppError):
    status, title = 416, "Range not satisfiable"


class Unprocessable(AppError):
    status, title = 422, "Validation failed"

    def __init__(self, detail: str | None = None, *, field: str | None = None, **kw: Any) -> None:
        if field is not None and "errors" not in kw:
            kw["errors"] = [{"loc": field.split("."), "msg": detail or self.title}]
        super().__init__(detail, **kw)


PROBLEM_TYPES = "https://genstore.dev/problems/"


class BudgetExceeded(AppError):
    status, title, type = 402, "Budget exceeded", PROBLEM_TYPES + "budget-exceeded"


class StorageQuotaExceeded(AppError):
    status, title, type = 403, "Storage quota exceeded", PROBLEM_TYPES + "storage-quota-exceeded"


class LegalHoldActive(AppError):
    status, title, type = 409, "Legal hold", PROBLEM_TYPES + "legal-hold"


class TooManyRequests(AppError):
    status, title = 429, "Too many requests"


class ServiceUnavailable(AppError):
    status, title = 503, "Service unavailable"


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    type_: str = "about:blank",
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **(extensions or {}),
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Keep what a client can act on; never echo back large or binary input."""
    cleaned = []
    for err in errors:
        cleaned.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return cleaned


DATABASE_DOWN = (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return problem(
            exc.status,
            exc.detail,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            type_=exc.type,
            extensions=exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "The request did not match the expected shape."
        body_missing = any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors())
        if body_missing and "json" not in request.headers.get("content-type", ""):
            # JSON bodies are read only when the request says they are JSON (README "API").
            detail = "The body is read as JSON only with `Content-Type: application/json`."
        return problem(
            422,
            detail,
            title="Validation failed",
            errors=_clean_validation_errors(exc.errors()),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource."
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    for error_type in DATABASE_DOWN:

        @app.exception_handler(error_type)
        async def _database_down(_: Request, exc: Exception) -> JSONResponse:
            log.warning("database unavailable: %s", type(exc).__name__)
            return problem(
                503,
                "The database is unreachable; retry shortly.",
                headers={"Retry-After": "2"},
            )

    @app.exception_handler(engine.EngineBusy)
    async def _engine_busy(_: Request, exc: engine.EngineBusy) -> JSONResponse:
        return _busy(exc.retry_after)

    @app.exception_handler(OperationFailure)
    async def _operation_failure(_: Request, exc: OperationFailure) -> JSONResponse:
        # A transient answer from a write outside the primitives (README "Engines").
        kind = engine.transient_kind(exc)
        if kind is None:
            return _unexpected_error(exc)
        engine.count(kind, "unretried")
        log.warning("transient engine answer outside the primitives: %s at %s", kind, _where(exc))
        return _busy(1)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _unexpected_error(exc)


def _where(exc: BaseException) -> str:
    """The innermost frame of the app's own code that raised `exc`: where to add a retry."""
    app_dir = Path(__file__).resolve().parent
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(app_dir))
    ]
    return (
        f"{Path(frames[-1].filename).relative_to(app_dir.parent)}:{frames[-1].lineno}"
        if frames
        else "?"
    )


def _busy(retry_after: int) -> JSONResponse:
    return problem(
        503,
        "The database is busy with concurrent writes; retry shortly.",
        headers={"Retry-After": str(retry_after)},
    )


def _unexpected_error(exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "An unexpected error occurred.")

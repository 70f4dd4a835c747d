"""One Settings object, read from the environment and `.env`."""

from __future__ import annotations

import secrets
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that must never sign tokens outside development.
KNOWN_DEFAULT_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    mongodb_url: str | None = None
    mongodb_db: str = "genstore"
    # Connections per process; unset: the engine profile decides (app/engine/).
    mongodb_pool_size: int | None = Field(default=None, ge=1, le=1000)
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = ""
    access_token_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Chat-history exports (`POST /api/v1/imports`): the upload is kept in `import_dir` (the
    # system's temporary directory when unset) while its job runs.
    max_import_bytes: int = Field(default=1024**3, ge=1)
    import_dir: str | None = None
    # A running import renews its heartbeat five times in this; a heartbeat older than this
    # means the job's process stopped, and the job is failed (README "Importing conversations").
    import_stale_seconds: float = Field(default=30.0, gt=0)
    # Days a deleted item stays in the trash before `cleanup` purges it (fractions allowed).
    trash_days: float = Field(default=30.0, ge=0)
    # Hours after its last activity a temporary conversation is purged by `cleanup`.
    temporary_chat_hours: float = Field(default=24.0, ge=0)
    max_json_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Base of published sites' and shares' links; unset: this process's own address, so
    # `PORT=9000 make run` hands out links to port 9000.
    public_base_url: str = ""
    external_jwt_issuer: str | None = None
    external_jwt_public_key: str | None = None
    external_jwt_audience: str | None = None
    cors_origins: list[str] = []
    server_selection_timeout_ms: int = Field(default=2000, ge=100)
    log_level: str = "INFO"
    # FastAPI's own OpenTelemetry spans, metrics and logs, for deployments that configure an
    # OpenTelemetry SDK. Off by default: FastAPI otherwise asks the OpenTelemetry API whether a
    # provider is configured on every request (Prometheus at /metrics is always on).
    otel_enabled: bool = False
    mail_backend: Literal["file", "memory"] = "file"
    mail_dir: str = ".tools/mail"
    # A usage batch journal older than this belongs to a writer that died: reports, the cleanup
    # job and the app's start fold it into the rollups (app/usage/rollups.py).
    rollup_fold_after_s: float = Field(default=120, ge=0, le=24 * 3600)
    # Limits for users without their own (set by an administrator); unset: unlimited.
    default_monthly_spend_usd: Decimal | None = Field(default=None, ge=0, le=10**9)
    default_storage_bytes: int | None = Field(default=None, ge=0)
    # Webhooks (README "Events"): each app process runs the dispatcher every `webhook_poll_s`
    # unless `webhook_dispatch` is off (then `genstore webhooks deliver` does the work).
    webhook_dispatch: bool = True
    webhook_poll_s: float = Field(default=1.0, gt=0, le=3600)
    # Private, loopback and link-local targets: refused unless allowed (development, tests).
    webhook_allow_private: bool = False
    # Retries: exponential from `webhook_retry_base_s` (full jitter, at most
    # `webhook_retry_max_s` apart) for `webhook_give_up_hours`; an endpoint failing that long
    # is disabled.
    webhook_retry_base_s: float = Field(default=5.0, gt=0)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0)
    webhook_give_up_hours: float = Field(default=24.0, gt=0)
    # Sent (or given up) deliveries and their events stay this long for the delivery log.
    webhook_log_days: float = Field(default=30.0, gt=0)
    # Live streams (SSE): how often a process reads a watched conversation or generation, the
    # heartbeat of an idle stream, and the events one slow client may have waiting.
    sse_poll_s: float = Field(default=0.25, gt=0, le=60)
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    sse_queue: int = Field(default=256, ge=1)
    # A stream ends after this long; clients reconnect with `Last-Event-ID` (EventSource does).
    sse_max_s: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = f"http://127.0.0.1:{self.port}"
        return self

    @model_validator(mode="after")
    def _guard_secret(self) -> Settings:
        if self.secret_key in KNOWN_DEFAULT_SECRETS:
            if self.app_env == "production":
                raise ValueError("SECRET_KEY must be set to a random value when APP_ENV=production")
            # Development and tests get a fresh random key: tokens do not survive a restart.
            self.secret_key = secrets.token_urlsafe(48)
        elif self.app_env == "production" and len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters when APP_ENV=production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""Signatures as the Standard Webhooks specification defines them, so receivers verify with its
libraries: `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-
separated list of `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one per valid secret
(two during a rotation's overlap). Secrets are `whsec_` + base64 of 32 random bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: list[str], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
        "user-agent": "genstore-webhooks/1",
    }

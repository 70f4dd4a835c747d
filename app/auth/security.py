"""Passwords, access tokens, external identity tokens and random secrets.

Argon2id through the passlib API (libpass). Secrets that are looked up (API keys, verify and
reset tokens) have at least 256 bits of entropy, so a plain sha256 is the right hash for them:
it is indexable and nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from passlib.context import CryptContext

from app.errors import Unauthorized
from app.settings import Settings

# OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
password_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__rounds=2,
    argon2__parallelism=1,
)
# Verified against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = password_context.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return password_context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        password_context.verify(password, _DUMMY_HASH)
        return False
    return password_context.verify(password, password_hash)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


API_KEY_PREFIX = "gsk_"


def new_api_key() -> tuple[str, str]:
    """A key `gsk_<8 visible chars>_<secret>` and its visible prefix."""
    visible = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{visible}_{secrets.token_urlsafe(32)}"
    return key, f"{API_KEY_PREFIX}{visible}"


def create_access_token(user_id: str, settings: Settings) -> tuple[str, int]:
    lifetime = settings.access_token_minutes * 60
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(seconds=lifetime),
    }
    return jwt.encode(claims, settings.secret_key, algorithm="HS256"), lifetime


@dataclass(frozen=True)
class TokenSubject:
    """Who a bearer token names: our own user id, or an external (issuer, sub)."""

    user_id: str | None = None
    issuer: str | None = None
    external_sub: str | None = None
    email: str | None = None
    name: str | None = None


# Tokens verified, until their `exp`: a token is immutable, so verifying it again says the same
# until it expires (checked on every use). What it names is still read on every request, so a
# deleted user or a demoted role takes effect at once. Bounded: emptied when full.
_VERIFIED: dict[tuple[str | None, ...], tuple[TokenSubject, float]] = {}
_VERIFIED_MAX = 10_000


def decode_bearer(token: str, settings: Settings) -> TokenSubject:
    """Verify a bearer token. Each algorithm is accepted only with its own key, so neither
    `alg: none` nor an RS256 public key used as an HS256 secret gets through."""
    key = (
        token,
        settings.secret_key,
        settings.external_jwt_issuer,
        settings.external_jwt_public_key,
        settings.external_jwt_audience,
    )
    known = _VERIFIED.get(key)
    if known is not None:
        subject, expires = known
        if time.time() < expires:
            return subject
        del _VERIFIED[key]
        raise Unauthorized("The token has expired.")
    subject, expires = _verify_bearer(token, settings)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = (subject, expires)
    return subject


def _verify_bearer(token: str, settings: Settings) -> tuple[TokenSubject, float]:
    """The token's subject and expiry (epoch seconds), or Unauthorized."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("Malformed token.") from exc
    algorithm = header.get("alg")
    try:
        if algorithm == "HS256":
            claims = jwt.decode(
                token,
                settings.secret_key,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"]},
            )
            if claims.get("typ") != "access":
                raise Unauthorized("Not an access token.")
            return TokenSubject(user_id=str(claims["sub"])), float(claims["exp"])
        if (
            algorithm == "RS256"
            and settings.external_jwt_issuer
            and settings.external_jwt_public_key
        ):
            options: dict[str, Any] = {"require": ["exp", "sub", "iss"]}
            kwargs: dict[str, Any] = {}
            if settings.external_jwt_audience:
                kwargs["audience"] = settings.external_jwt_audience
                options["require"].append("aud")
            else:
                options["verify_aud"] = False
            claims = jwt.decode(
                token,
                settings.external_jwt_public_key,
                algorithms=["RS256"],
                issuer=settings.external_jwt_issuer,
                options=options,
                **kwargs,
            )
            sub = claims["sub"]
            if not isinstance(sub, str) or not 0 < len(sub) <= 256:
                raise Unauthorized("Invalid subject.")
            email = claims.get("email") if isinstance(claims.get("email"), str) else None
            name = claims.get("name") if isinstance(claims.get("name"), str) else None
            subject = TokenSubject(
                issuer=settings.external_jwt_issuer, external_sub=sub, email=email, name=name
            )
            return subject, float(claims["exp"])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("Invalid token.") from exc
    raise Unauthorized("Unsupported token algorithm.")

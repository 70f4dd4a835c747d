from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import EmailStr, StringConstraints

from app.schemas import StrictInput

Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
Token = Annotated[str, StringConstraints(min_length=16, max_length=200)]


class RegisterRequest(StrictInput):
    email: EmailStr
    password: Password
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    birthdate: date | None = None


class AccessToken(StrictInput):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class VerifyRequest(StrictInput):
    token: Token


class ForgotPasswordRequest(StrictInput):
    email: EmailStr


class ResetPasswordRequest(StrictInput):
    token: Token
    password: Password


class Accepted(StrictInput):
    status: Literal["accepted", "password changed"] = "accepted"

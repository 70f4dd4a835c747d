from __future__ import annotations

from typing import Annotated

from fastapi import Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.dependencies import (
    CurrentUser,
    MailSenderDep,
    SettingsDep,
    require_account_access,
)
from app.auth.schemas import (
    Accepted,
    AccessToken,
    ForgotPasswordRequest,
    RegisterRequest,
    ResetPasswordRequest,
    VerifyRequest,
)
from app.auth.security import create_access_token
from app.openapi import problems
from app.routing import AreaRouter
from app.users.schemas import UserRead

router = AreaRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    operation_id="auth_register",
    responses=problems((409, "An account with this email exists")),
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
)
async def register(body: RegisterRequest):
    return await service.register(body.email, body.password, body.name, body.birthdate)


@router.post(
    "/token",
    operation_id="auth_token",
    responses=problems((401, "Incorrect email or password")),
    response_model=AccessToken,
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], settings: SettingsDep
) -> AccessToken:
    user = await service.authenticate(form.username, form.password)
    access_token, expires_in = create_access_token(str(user.id), settings)
    return AccessToken(access_token=access_token, expires_in=expires_in)


@router.post(
    "/request-verify",
    operation_id="auth_request_verify",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    dependencies=[require_account_access()],
)
async def request_verify(user: CurrentUser, sender: MailSenderDep) -> Accepted:
    await service.request_verification(user, sender)
    return Accepted()


@router.post(
    "/verify",
    operation_id="auth_verify",
    responses=problems((400, "The token is invalid, expired or already used")),
    response_model=UserRead,
)
async def verify(body: VerifyRequest):
    return await service.verify_email(body.token)


@router.post(
    "/forgot-password",
    operation_id="auth_forgot_password",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
)
async def forgot_password(body: ForgotPasswordRequest, sender: MailSenderDep) -> Accepted:
    await service.forgot_password(body.email, sender)
    return Accepted()


@router.post(
    "/reset-password",
    operation_id="auth_reset_password",
    responses=problems((400, "The token is invalid, expired or already used")),
    response_model=Accepted,
)
async def reset_password(body: ResetPasswordRequest) -> Accepted:
    await service.reset_password(body.token, body.password)
    return Accepted(status="password changed")

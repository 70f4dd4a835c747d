"""Who is calling: bearer tokens (ours or an external IdP's) and API keys, with scopes.

Use the aliases: `CurrentUser` in endpoints, and `access=Access("files")` on each area's
router (`AreaRouter`) so a key outside its scopes gets 403 on every route of that area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader, HTTPBearer

from app.auth.mail import MailSender
from app.auth.rate_limit import enforce_rate_limit
from app.auth.scoping import read_by_id
from app.auth.security import API_KEY_PREFIX, decode_bearer
from app.auth.service import use_api_key, user_for_external_identity
from app.errors import Forbidden, Unauthorized
from app.settings import Settings
from documents.api_key import ApiKey
from documents.user import User

AREAS = (
    "conversations",
    "sites",
    "files",
    "projects",
    "generations",
    "workflows",
    "drawings",
    "stories",
    "usage",
    "analytics",
    "shares",
    "search",
    "folders",
)

bearer_scheme = HTTPBearer(auto_error=False, description="Access token or external IdP token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
SECURITY_SCHEMES = (bearer_scheme, api_key_scheme)  # described in the OpenAPI document


@dataclass
class Principal:
    user: User
    api_key_id: str | None = None
    scopes: tuple[str, ...] = ("*",)
    api_key: ApiKey | None = None  # the key's document, for its spend cap

    def allows(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


# Dependencies that do no blocking work are `async def`: FastAPI runs a plain `def` one in the
# thread pool, a hop per request that costs more than the work.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_mail_sender(request: Request) -> MailSender:
    return request.app.state.mail_sender


MailSenderDep = Annotated[MailSender, Depends(get_mail_sender)]


async def _user_from_api_key(key: str) -> Principal:
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        raise Unauthorized("Invalid API key.", headers={"WWW-Authenticate": "ApiKey"})
    found = await use_api_key(key)
    if found is None:
        raise Unauthorized("Invalid or revoked API key.", headers={"WWW-Authenticate": "ApiKey"})
    api_key, user = found
    if api_key.rate_limit_per_minute:
        await enforce_rate_limit(f"api_key:{api_key.id}", api_key.rate_limit_per_minute)
    return Principal(
        user=user, api_key_id=str(api_key.id), scopes=tuple(api_key.scopes), api_key=api_key
    )


_PRINCIPAL = "genstore.principal"  # where a request keeps its caller once worked out


def signs_in(dependency):
    """Marks a dependency that authenticates the caller: the OpenAPI document gives its routes
    the two security schemes (`app/openapi.py`)."""
    dependency.signs_in = True
    return dependency


def authenticates(dependant: Dependant) -> bool:
    """Whether a route (its dependant) works out the caller somewhere in its dependencies."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        if getattr(current.call, "signs_in", False):
            return True
        pending.extend(current.dependencies)
    return False


@signs_in
async def get_principal(request: Request) -> Principal:
    """The caller, worked out once per request from its headers, and held to what the matched
    route's router asks (`Access`).

    The headers are read here rather than through FastAPI's security dependencies, and the
    router's requirement is checked here rather than in a dependency of its own: each
    dependency is a node FastAPI solves on every request (~65,000 instructions, a twentieth of
    `/users/me`), and the user, the requirement and the principal all need the caller. The
    schemes' OpenAPI description is added to the document instead."""
    found = request.scope.get(_PRINCIPAL)
    if found is None:
        found = await _authenticate(request)
        access: Access | None = getattr(request.scope.get("route"), "access", None)
        if access is not None:
            access.check(found, request.method)
        request.scope[_PRINCIPAL] = found
    return found


async def _authenticate(request: Request) -> Principal:
    api_key = request.headers.get(api_key_scheme.model.name)
    if api_key:
        return await _user_from_api_key(api_key)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("Send a bearer token or an X-API-Key header.")
    subject = decode_bearer(credentials.strip(), request.app.state.settings)
    if subject.user_id is not None:
        user = await read_by_id(User, subject.user_id)
    else:
        user = await user_for_external_identity(subject)
    if user is None:
        raise Unauthorized("The token's user no longer exists.")
    return Principal(user=user)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


@signs_in
async def current_user(request: Request) -> User:
    return (await get_principal(request)).user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class Access:
    """What a router asks of every caller of its routes beyond signing in: an API key's scope
    for an area (`<area>:read` for GET/HEAD, `<area>:write` otherwise), or, with no area, a
    bearer token or a `*` key (account routes: profile, keys, export, deletion)."""

    area: str | None = None

    def check(self, principal: Principal, method: str) -> None:
        if self.area is None:
            if not principal.allows("*"):
                raise Forbidden("Account routes need a bearer token or a key with the `*` scope.")
            return
        action = "read" if method in ("GET", "HEAD") else "write"
        if not principal.allows(f"{self.area}:{action}"):
            raise Forbidden(f"This API key lacks the `{self.area}:{action}` scope.")

    def dependency(self) -> Any:
        """The check as a dependency of its own, for a route that does not work out the caller
        otherwise (`AreaRouter` adds it) or asks more than its router."""

        @signs_in
        async def check(request: Request) -> None:
            self.check(await get_principal(request), request.method)

        return Depends(check)


ACCOUNT_ACCESS = Access()


def require_account_access() -> Any:
    """A route-level `ACCOUNT_ACCESS`, on a route of a router that asks less."""
    return ACCOUNT_ACCESS.dependency()


@signs_in
async def admin_user(request: Request) -> User:
    user = (await get_principal(request)).user
    if not user.is_admin:
        raise Forbidden("This route is for administrators.")
    return user


AdminUser = Annotated[User, Depends(admin_user)]

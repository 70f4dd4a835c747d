"""The routers every area declares its routes on.

FastAPI (0.165) finds a request's route by trying every route of every included router in
turn, each try a regular expression plus bookkeeping in the request's scope. A request for
`/api/v1/users/me` tried every route of the three routers included before it: about 300,000
of the ~2,100,000 instructions its whole request took (valgrind, served app). An `AreaRouter`
knows the path it is included at, and a request whose path does not start with it is not its
own: one string comparison instead of a try per route. Paths that do start with it are matched
by FastAPI exactly as before, so which route answers, and 404/405, do not change.

An area's router also says what its callers need (`access=`, `app/auth/dependencies.py`
`Access`): each of its routes carries it, and the caller's principal is checked against it
where it is worked out, with no dependency of its own to solve on every request. A route that
does not work out the caller gets the check as a dependency, so none goes unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.utils import get_dependant
from starlette._utils import get_route_path  # the path FastAPI's own matching reads
from starlette.routing import Match
from starlette.types import Scope

from app.auth.dependencies import Access, authenticates


class AreaRouter(APIRouter):
    mounted_at: str | None = None  # the path every route of this router starts with, once included

    def __init__(self, *, access: Access | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access = access

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if self.access is None:
            super().add_api_route(path, endpoint, **kwargs)
            return
        route_dependencies = list(kwargs.pop("dependencies", None) or ())
        calls = [endpoint, *(d.dependency for d in (*self.dependencies, *route_dependencies))]
        full_path = self.prefix + path
        if not any(authenticates(get_dependant(path=full_path, call=c)) for c in calls if c):
            route_dependencies.append(self.access.dependency())
        super().add_api_route(path, endpoint, dependencies=route_dependencies, **kwargs)
        self.routes[-1].access = self.access  # read by `get_principal` from the matched route

    def include_in(self, app: FastAPI, prefix: str = "") -> None:
        """Includes the router in the app under `prefix`, and remembers where its routes are."""
        app.include_router(self, prefix=prefix)
        self.mounted_at = prefix + self.prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.mounted_at and not get_route_path(scope).startswith(self.mounted_at):
            return Match.NONE, {}
        return super().matches(scope)

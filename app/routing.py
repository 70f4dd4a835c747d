"""The routers every area declares its routes on, and how the app finds a request's route.

FastAPI (0.165) includes a router lazily: each request walks the included router twice (once
to match, once to handle), with scope bookkeeping at every step. Measured on `/users/me`
(valgrind, served app), that walk cost ~106,000 of the ~1,554,000 instructions of the whole
request. An `AreaRouter` is not included that way: `include_in` builds its routes at their full
paths (FastAPI's own `add_api_route`, with the router's options) and puts them in the app's
routes as one `AreaRoutes`, which turns away a path outside the area with one string comparison
and otherwise matches and handles the routes exactly as FastAPI's router does, so which route
answers, and 404/405, do not change. `every_route(app)` lists the routes behind the groups, for
the OpenAPI document and for tests.

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
from fastapi.routing import APIRoute

# FastAPI's router reports the chosen route's template to its tracing (`OTEL_ENABLED`) through
# this hook; a group hands the choice on to the route it holds, so it reports it in its place.
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path  # the path FastAPI's own matching reads
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from app.auth.dependencies import Access, authenticates


class AreaRouter(APIRouter):
    """An area's routes, declared as on any `APIRouter` and built when the app includes them."""

    mounted_at: str | None = None  # the path every route of this router starts with, once included

    def __init__(self, *, access: Access | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.access = access
        self._options = options
        self._declared: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        """Records the route; `include_in` builds it (FastAPI's decorators all come here)."""
        if self.access is not None:
            route_dependencies = list(kwargs.pop("dependencies", None) or ())
            calls = [endpoint, *(d.dependency for d in (*self.dependencies, *route_dependencies))]
            full_path = self.prefix + path
            if not any(authenticates(get_dependant(path=full_path, call=c)) for c in calls if c):
                route_dependencies.append(self.access.dependency())
            kwargs["dependencies"] = route_dependencies
        self._declared.append((path, endpoint, kwargs))

    def build_routes(self, prefix: str, app: FastAPI | None = None) -> list[APIRoute]:
        """The declared routes at `prefix` + this router's prefix, as `include_router` would
        make them (same router options), each carrying the router's access."""
        options = {**self._options, "prefix": prefix + self.prefix}
        builder = APIRouter(**options, dependency_overrides_provider=app)
        for path, endpoint, kwargs in self._declared:
            builder.add_api_route(path, endpoint, **kwargs)
            if self.access is not None:
                builder.routes[-1].access = self.access  # read by `get_principal`
        return builder.routes  # type: ignore[return-value]

    def include_in(self, app: FastAPI, prefix: str = "") -> None:
        """Adds the router's routes to the app under `prefix`, as one `AreaRoutes`."""
        self.mounted_at = prefix + self.prefix
        app.router.routes.append(AreaRoutes(self.mounted_at, self.build_routes(prefix, app)))


class AreaRoutes(BaseRoute):
    """An area's routes at their full paths, behind one test of the path's start. Within the
    area the first full match wins, else the first partial one (a 405), as in FastAPI's router."""

    def __init__(self, mounted_at: str, routes: list[APIRoute]) -> None:
        self.mounted_at = mounted_at
        self.routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not get_route_path(scope).startswith(self.mounted_at):
            return Match.NONE, {}
        partial: Scope | None = None
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, child_scope
            if match is Match.PARTIAL and partial is None:
                partial = child_scope
        return (Match.NONE, {}) if partial is None else (Match.PARTIAL, partial)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: APIRoute = scope["route"]  # the one `matches` chose: an APIRoute names itself
        _route_selected(scope=scope, path=route.path_format)
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)


def every_route(app: FastAPI) -> list[BaseRoute]:
    """The app's routes, each area's in place of its group: what the OpenAPI document lists."""
    return [
        inner
        for route in app.routes
        for inner in (route.routes if isinstance(route, AreaRoutes) else [route])
    ]

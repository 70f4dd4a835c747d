"""Every route is found by its own path: the area routers' prefix check (`app/routing.py`)
turns away only paths that cannot be theirs. Every route of a router that asks for an access
(`AreaRouter(access=...)`) refuses a key without it."""

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.dependencies import Access, authenticates
from app.observability import REQUESTS
from app.routing import AreaRouter, every_route
from tests.factories import TestUser, make_api_key


def _served(method: str, template: str) -> float:
    return sum(
        sample.value
        for metric in REQUESTS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels["method"] == method
        and sample.labels["route"] == template
    )


def _api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Each API route with a path that reaches it (ids and file paths filled in)."""
    found = []
    for context in iter_route_contexts(every_route(app)):
        if context.path and isinstance(context.original_route, APIRoute):
            path = re.sub(r"\{[^}:]+:path\}", "a/b.txt", context.path)
            found.append((re.sub(r"\{[^}]+\}", "0123456789abcdef01234567", path), context))
    return found


async def test_every_route_is_reached_by_its_own_path(app: FastAPI, client: httpx.AsyncClient):
    contexts = _api_routes(app)
    assert len(contexts) > 100
    for path, context in contexts:
        for method in sorted(context.original_route.methods - {"HEAD"}):
            before = _served(method, context.path)
            await client.request(method, path)
            assert _served(method, context.path) == before + 1, (method, context.path)


async def test_a_path_beside_an_area_prefix_is_a_404_and_a_wrong_method_a_405(
    client: httpx.AsyncClient,
):
    assert (await client.get("/api/v1/users/meow")).status_code == 404
    assert (await client.get("/api/v1/conversationsx")).status_code == 404
    wrong_method = await client.put("/api/v1/users/me/api-keys")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405


def test_every_area_router_knows_where_it_is_included(app: FastAPI):
    from app.main import _area_routers

    for router in _area_routers():
        assert isinstance(router, AreaRouter)
        assert router.mounted_at == "/api/v1" + router.prefix


async def test_every_route_of_a_router_asking_access_refuses_a_key_without_it(
    app: FastAPI, client: httpx.AsyncClient, alice: TestUser
):
    """The access a router asks is checked where the caller is worked out (`get_principal`),
    not by a dependency of each route: every such route must still refuse, before anything
    else, a key whose scopes do not reach it (and the account routes any key but `*`)."""
    keys = {
        area: {"X-API-Key": await make_api_key(client, alice, [f"{area}:read", f"{area}:write"])}
        for area in ("search", "folders")
    }
    checked = 0
    for path, context in _api_routes(app):
        access = getattr(context.original_route, "access", None)
        if access is None:
            continue
        headers = keys["folders" if access.area == "search" else "search"]
        for method in sorted(context.original_route.methods - {"HEAD"}):
            answer = await client.request(method, path, headers=headers)
            assert answer.status_code == 403, (method, context.path, answer.status_code)
            checked += 1
    assert checked > 100


def test_an_area_route_that_does_not_work_out_the_caller_gets_the_check():
    router = AreaRouter(prefix="/things", access=Access("files"))

    @router.get("")
    async def list_things() -> list[str]:
        return []

    (route,) = router.build_routes("/api/v1")
    assert isinstance(route, APIRoute) and authenticates(route.dependant)
    assert route.path == "/api/v1/things" and route.access == Access("files")


async def test_the_documentation_routes_tried_after_the_areas_still_answer(
    client: httpx.AsyncClient,
):
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert (await client.get(path)).status_code == 200, path

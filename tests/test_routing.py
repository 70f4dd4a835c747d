"""Every route is found by its own path: the area routers' prefix check (`app/routing.py`)
turns away only paths that cannot be theirs."""

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.observability import REQUESTS
from app.routing import AreaRouter


def _served(method: str, template: str) -> float:
    return sum(
        sample.value
        for metric in REQUESTS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels["method"] == method
        and sample.labels["route"] == template
    )


async def test_every_route_is_reached_by_its_own_path(app: FastAPI, client: httpx.AsyncClient):
    contexts = [
        context
        for context in iter_route_contexts(app.routes)
        if context.path and isinstance(context.original_route, APIRoute)
    ]
    assert len(contexts) > 100
    for context in contexts:
        path = re.sub(r"\{[^}:]+:path\}", "a/b.txt", context.path)
        path = re.sub(r"\{[^}]+\}", "0123456789abcdef01234567", path)
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

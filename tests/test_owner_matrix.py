"""Object-level authorisation for every route the app has.

Routes are discovered from the app, so a route added later is covered without editing this
test: user B calls each parameterised route with user A's ids and must get 404 (403 on admin
routes), never a 2xx; A's objects never appear in any of B's lists; A's data is unchanged.
"""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from app.routing import every_route
from tests.factories import TestUser
from tests.owner_world import EXPECTED, NOT_OWNED, bodies_for, build_world

PARAM = re.compile(r"{([a-zA-Z_]+)(?::path)?}")


def _api_routes(app: FastAPI) -> list[RouteContext]:
    """Every API operation of the app, with its full path. Fails when it finds fewer than the
    OpenAPI document lists: a FastAPI release that changes how included routers are stored must
    not leave this test checking nothing."""
    routes = [
        route
        for route in iter_route_contexts(every_route(app))
        if isinstance(route.original_route, APIRoute) and route.path.startswith("/api/v1/")
    ]
    found = {(method, route.path) for route in routes for method in route.methods}
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    }
    assert documented <= {(m, PARAM.sub(r"{\1}", p)) for m, p in found}, (
        f"the route walk found {len(found)} operations, OpenAPI has {len(documented)}"
    )
    return routes


def _area(path: str) -> str:
    return path.removeprefix("/api/v1/").split("/", 1)[0]


def _fill(path: str, params: dict[str, str]) -> str:
    return PARAM.sub(lambda m: params[m.group(1)], path)


def _is_admin_route(route: RouteContext) -> bool:
    return route.path.startswith("/api/v1/admin/")


async def test_owner_matrix(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: TestUser,
    bob: TestUser,
    seeded_tutorials: list[str],
) -> None:
    world_a = await build_world(client, alice)
    world_b = await build_world(client, bob)  # B has data of its own in every area
    bodies = bodies_for(world_a)
    a_ids = {
        value
        for params in world_a.values()
        for value in params.values()
        if re.fullmatch(r"[0-9a-f]{24}", value)
    }
    missing: list[str] = []
    leaks: list[str] = []
    checked = 0
    for route in _api_routes(app):
        if route.path in NOT_OWNED:
            continue
        params = PARAM.findall(route.path)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            if not params:
                if method == "GET":
                    response = await client.get(route.path, headers=bob.headers)
                    if _is_admin_route(route) and response.status_code != 403:
                        leaks.append(f"GET {route.path} as B → {response.status_code}, not 403")
                    if any(a_id in response.text for a_id in a_ids):
                        leaks.append(f"{method} {route.path} lists A's objects")
                continue
            area_params = world_a.get(_area(route.path), {})
            if not set(params) <= set(area_params):
                missing.append(f"{method} {route.path}: no ids for {params}")
                continue
            url = _fill(route.path, area_params)
            body = bodies.get((method, route.path), {})
            params = {"from": 1, "to": 1} if route.path.endswith("/diff") else None
            response = await client.request(
                method, url, json=body, params=params, headers=bob.headers
            )
            expected = 403 if _is_admin_route(route) else 404
            expected = EXPECTED.get((method, route.path), (expected, ""))[0]
            checked += 1
            if response.status_code != expected:
                leaks.append(f"{method} {url} as B → {response.status_code}, expected {expected}")
    assert not missing, (
        "routes without owner-matrix data (add them to tests/owner_world.py):\n"
        + "\n".join(missing)
    )
    assert not leaks, "\n".join(leaks)
    assert checked > 0
    # A's world is still there and still A's: nothing B sent changed or deleted it.
    assert (await client.get("/api/v1/users/me/api-keys", headers=alice.headers)).json()["items"]
    conversation_id = world_a["conversations"]["conversation_id"]
    mine = await client.get(f"/api/v1/conversations/{conversation_id}", headers=alice.headers)
    assert mine.status_code == 200 and mine.json()["title"] == "mine"
    messages = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=alice.headers
    )
    assert [m["content"] for m in messages.json()["items"]] == ["a secret plan"]
    site_id = world_a["sites"]["site_id"]
    site = await client.get(f"/api/v1/sites/{site_id}", headers=alice.headers)
    assert site.json()["current_version"] == 1 and site.json()["is_published"] is False
    page = await client.get(f"/api/v1/sites/{site_id}/files/index.html", headers=alice.headers)
    assert page.text == "<p>mine</p>"
    assert world_b.keys() == world_a.keys()

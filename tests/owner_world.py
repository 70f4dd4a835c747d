"""Real data for one user in every area, for the owner matrix.

`build_world` creates, through the API, one object of each kind the user can own and returns the
path parameters that name them, per area (the first path segment after /api/v1). An area that adds
routes adds its objects here; `test_owner_matrix.py` itself stays generic and fails for any route
whose parameters are missing.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import TestUser, make_api_key

# Bodies that pass validation, so that a refusal is about ownership and not about shape.
BODIES: dict[tuple[str, str], Any] = {}

# Routes that are deliberately not owner-scoped, with the reason.
NOT_OWNED: dict[str, str] = {}


async def build_world(client: httpx.AsyncClient, user: TestUser) -> dict[str, dict[str, str]]:
    world: dict[str, dict[str, str]] = {}
    key = await make_api_key(client, user, ["*"])
    keys = (await client.get("/api/v1/users/me/api-keys", headers=user.headers)).json()["items"]
    world["users"] = {"key_id": next(k["id"] for k in keys if key.startswith(k["prefix"]))}
    return world

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
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/conversations/{conversation_id}"): {"title": "taken over"},
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): {"role": "user", "content": "hi"},
    ("PATCH", "/api/v1/conversations/{conversation_id}/messages/{message_id}"): {"content": "x"},
    ("PATCH", "/api/v1/sites/{site_id}"): {"title": "taken over"},
    ("POST", "/api/v1/sites/{site_id}/versions"): {
        "base_version": 1,
        "changes": [{"path": "index.html", "content": "defaced"}],
    },
    ("POST", "/api/v1/sites/{site_id}/restore"): {"version": 1},
    ("POST", "/api/v1/sites/{site_id}/publish"): {},
}

# Routes that are deliberately not owner-scoped, with the reason.
NOT_OWNED: dict[str, str] = {}


async def build_world(client: httpx.AsyncClient, user: TestUser) -> dict[str, dict[str, str]]:
    world: dict[str, dict[str, str]] = {}
    # Fork needs a message id in its body: filled per world by `bodies_for`.
    key = await make_api_key(client, user, ["*"])
    keys = (await client.get("/api/v1/users/me/api-keys", headers=user.headers)).json()["items"]
    world["users"] = {"key_id": next(k["id"] for k in keys if key.startswith(k["prefix"]))}

    conversation = await client.post(
        "/api/v1/conversations", json={"title": "mine"}, headers=user.headers
    )
    conversation_id = conversation.json()["id"]
    message = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"role": "user", "content": "a secret plan"},
        headers=user.headers,
    )
    world["conversations"] = {
        "conversation_id": conversation_id,
        "message_id": message.json()["id"],
    }
    uploaded = await client.post(
        "/api/v1/files",
        files={"file": ("secret.txt", b"only mine", "text/plain")},
        headers=user.headers,
    )
    world["files"] = {"file_id": uploaded.json()["id"]}

    site = await client.post(
        "/api/v1/sites",
        json={"title": "mine", "files": [{"path": "index.html", "content": "<p>mine</p>"}]},
        headers=user.headers,
    )
    world["sites"] = {"site_id": site.json()["id"], "number": "1", "path": "index.html"}
    return world


def bodies_for(world: dict[str, dict[str, str]]) -> dict[tuple[str, str], Any]:
    """BODIES plus the ones that must name the other user's objects."""
    conversations = world["conversations"]
    return {
        **BODIES,
        ("POST", "/api/v1/conversations/{conversation_id}/fork"): {
            "message_id": conversations["message_id"]
        },
    }

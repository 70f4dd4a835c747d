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
    ("PATCH", "/api/v1/projects/{project_id}"): {"name": "taken over"},
    ("PATCH", "/api/v1/folders/{folder_id}"): {"name": "taken over"},
    ("PATCH", "/api/v1/tags/{name}"): {"name": "taken over"},
    ("PATCH", "/api/v1/files/{file_id}"): {"filename": "taken.txt"},
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): {"url": "http://127.0.0.1:9/taken"},
    ("PATCH", "/api/v1/generations/{generation_id}"): {"status": "running"},
    ("PATCH", "/api/v1/workflows/{workflow_id}"): {"title": "taken over"},
    ("POST", "/api/v1/workflows/{workflow_id}/phases/{name}"): {"status": "running"},
    ("POST", "/api/v1/workflows/{workflow_id}/scenes"): {
        "number": 2,
        "description": "d",
        "prompt": "p",
    },
    ("PUT", "/api/v1/workflows/{workflow_id}/scenes/{number}"): {
        "number": 1,
        "description": "d",
        "prompt": "p",
    },
    ("PATCH", "/api/v1/stories/{story_id}"): {"is_favorite": True},
    ("POST", "/api/v1/conversations/{conversation_id}/shares"): {"mode": "live"},
    ("POST", "/api/v1/sites/{site_id}/shares"): {"mode": "live"},
    ("PATCH", "/api/v1/shares/{share_id}"): {"max_views": 1},
    ("PATCH", "/api/v1/users/me/api-keys/{key_id}"): {"monthly_spend_usd": "1"},
    ("PUT", "/api/v1/admin/users/{user_id}/limits"): {
        "monthly_spend_usd": "1",
        "storage_bytes": 1,
    },
    ("PUT", "/api/v1/tutorials/{slug}"): {
        "slug": "sitting-cat",
        "category": "animals",
        "subject": {"en": "Cat", "de": "Katze"},
        "description": {"en": "A cat", "de": "Eine Katze"},
        "steps": [{"number": 1, "instruction": {"en": "Draw it", "de": "Mal sie"}}],
    },
}

# Routes that are deliberately not owner-scoped: the status B must get instead of 404, and why.
EXPECTED: dict[tuple[str, str], tuple[int, str]] = {
    ("GET", "/api/v1/tutorials/{slug}"): (200, "tutorials are public reads"),
    ("PUT", "/api/v1/tutorials/{slug}"): (403, "tutorial writes are for administrators"),
    ("PUT", "/api/v1/admin/users/{user_id}/limits"): (403, "limits are set by administrators"),
}
NOT_OWNED: dict[str, str] = {}


async def build_world(client: httpx.AsyncClient, user: TestUser) -> dict[str, dict[str, str]]:
    world: dict[str, dict[str, str]] = {}
    # Fork needs a message id in its body: filled per world by `bodies_for`.
    key = await make_api_key(client, user, ["*"])
    keys = (await client.get("/api/v1/users/me/api-keys", headers=user.headers)).json()["items"]
    world["users"] = {"key_id": next(k["id"] for k in keys if key.startswith(k["prefix"]))}
    held = await client.post(
        "/api/v1/usage/reservations", json={"amount_usd": "0.01"}, headers=user.headers
    )
    world["usage"] = {"reservation_id": held.json()["id"]}
    # Holds are placed by administrators only: any id is refused with 403 for the others.
    world["admin"] = {"user_id": user.id, "hold_id": "0" * 24}

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

    project = await client.post("/api/v1/projects", json={"name": "mine"}, headers=user.headers)
    world["projects"] = {"project_id": project.json()["id"]}
    generation = await client.post(
        "/api/v1/generations", json={"kind": "ui", "prompt": "mine"}, headers=user.headers
    )
    world["generations"] = {"generation_id": generation.json()["id"]}
    workflow = await client.post("/api/v1/workflows", json={"prompt": "mine"}, headers=user.headers)
    workflow_id = workflow.json()["id"]
    await client.post(
        f"/api/v1/workflows/{workflow_id}/scenes",
        json={"number": 1, "description": "mine", "prompt": "mine"},
        headers=user.headers,
    )
    world["workflows"] = {"workflow_id": workflow_id, "name": "story", "number": "1"}
    png = b"\x89PNG\r\n\x1a\n" + bytes(32)
    drawing = await client.post(
        "/api/v1/drawings", files={"image": ("d.png", png, "image/png")}, headers=user.headers
    )
    world["drawings"] = {"drawing_id": drawing.json()["id"]}
    story = await client.post(
        "/api/v1/stories",
        json={"title": "mine", "text": {"en": "once"}, "drawing_id": drawing.json()["id"]},
        headers=user.headers,
    )
    world["stories"] = {"story_id": story.json()["id"]}
    world["tutorials"] = {"slug": "sitting-cat"}
    shared = await client.post(
        f"/api/v1/conversations/{conversation_id}/shares",
        json={"mode": "snapshot"},
        headers=user.headers,
    )
    world["shares"] = {"share_id": shared.json()["id"]}
    export = b'[{"uuid": "c1", "name": "mine", "chat_messages": []}]'
    started = await client.post(
        "/api/v1/imports", files={"file": ("c.json", export)}, headers=user.headers
    )
    world["imports"] = {"import_id": started.json()["id"]}
    deleted = await client.post("/api/v1/projects", json={"name": "gone"}, headers=user.headers)
    await client.delete(f"/api/v1/projects/{deleted.json()['id']}", headers=user.headers)
    world["trash"] = {"item_id": deleted.json()["id"]}
    folder = await client.post("/api/v1/folders", json={"name": "mine"}, headers=user.headers)
    world["folders"] = {"folder_id": folder.json()["id"]}
    await client.patch(
        f"/api/v1/conversations/{conversation_id}",
        json={"folder_id": folder.json()["id"], "tags": [f"only {user.id}"]},
        headers=user.headers,
    )
    world["tags"] = {"name": f"only {user.id}"}  # a name, not an id: each world its own
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["generation.succeeded"]},
        headers=user.headers,
    )
    ping = await client.post(f"/api/v1/webhooks/{hook.json()['id']}/test", headers=user.headers)
    world["webhooks"] = {"webhook_id": hook.json()["id"], "delivery_id": ping.json()["delivery_id"]}
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

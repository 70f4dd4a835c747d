"""Workflows: phases drive status, scenes are bounded and unique, files tie to workflows."""

from __future__ import annotations

import httpx
from bson import ObjectId

from app.jobs.cleanup import run_cleanup
from tests.factories import TestUser

API = "/api/v1/workflows"


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.post(API, json={"prompt": "x"})).status_code == 401


async def test_phases_drive_the_workflow_status(client: httpx.AsyncClient, alice: TestUser) -> None:
    created = await client.post(API, json={"prompt": "a dragon who bakes"}, headers=alice.headers)
    workflow = created.json()
    assert [p["name"] for p in workflow["phases"]] == ["story", "scenes", "images", "video"]
    assert workflow["status"] == "pending" and workflow["current_phase"] == "story"
    wid = workflow["id"]

    async def phase(name: str, status: str, **extra) -> httpx.Response:
        return await client.post(
            f"{API}/{wid}/phases/{name}", json={"status": status, **extra}, headers=alice.headers
        )

    running = (await phase("story", "running")).json()
    assert running["status"] == "running" and running["current_phase"] == "story"
    assert running["phases"][0]["started_at"]
    done = (await phase("story", "completed")).json()
    assert done["current_phase"] == "scenes" and done["phases"][0]["finished_at"]
    assert (await phase("story", "running")).status_code == 409
    failed = (await phase("scenes", "failed", error="no ideas")).json()
    assert failed["status"] == "failed" and failed["phases"][1]["error"] == "no ideas"
    retry = (await phase("scenes", "running")).json()
    assert retry["status"] == "running" and retry["phases"][1]["error"] is None
    await phase("scenes", "completed")
    await phase("images", "completed")
    final = (await phase("video", "skipped")).json()
    assert final["status"] == "completed" and final["current_phase"] is None
    assert (await phase("nope", "running")).status_code == 404
    assert (await phase("video", "pending")).status_code == 422


async def test_scenes_are_unique_bounded_and_replaceable(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    wid = (
        await client.post(API, json={"prompt": "p", "phases": ["scenes"]}, headers=alice.headers)
    ).json()["id"]
    scene = {"number": 1, "description": "A forest", "prompt": "forest at dawn"}
    assert (
        await client.post(f"{API}/{wid}/scenes", json=scene, headers=alice.headers)
    ).status_code == 201
    taken = await client.post(f"{API}/{wid}/scenes", json=scene, headers=alice.headers)
    assert taken.status_code == 409
    replaced = await client.put(
        f"{API}/{wid}/scenes/1",
        json={**scene, "description": "A dark forest"},
        headers=alice.headers,
    )
    assert replaced.status_code == 200 and replaced.json()["description"] == "A dark forest"
    assert (
        await client.put(
            f"{API}/{wid}/scenes/2", json={**scene, "number": 2}, headers=alice.headers
        )
    ).status_code == 404
    assert (
        await client.put(
            f"{API}/{wid}/scenes/1", json={**scene, "number": 3}, headers=alice.headers
        )
    ).status_code == 422
    from documents.workflow import MAX_SCENES, Workflow

    await Workflow.get_pymongo_collection().update_one(
        {"_id": ObjectId(wid)}, {"$set": {"scene_count": MAX_SCENES}}
    )
    full = await client.post(
        f"{API}/{wid}/scenes", json={**scene, "number": 2}, headers=alice.headers
    )
    assert full.status_code == 422


async def test_scene_images_are_the_callers_and_keep_their_blob(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    wid = (await client.post(API, json={"prompt": "p"}, headers=alice.headers)).json()["id"]
    theirs = (
        await client.post(
            "/api/v1/files", files={"file": ("b.png", png + b"b")}, headers=bob.headers
        )
    ).json()
    refused = await client.post(
        f"{API}/{wid}/scenes",
        json={"number": 1, "description": "d", "prompt": "p", "image_file_id": theirs["id"]},
        headers=alice.headers,
    )
    assert refused.status_code == 422
    image = (
        await client.post("/api/v1/files", files={"file": ("a.png", png)}, headers=alice.headers)
    ).json()
    linked = (
        await client.post(
            "/api/v1/files",
            files={"file": ("story.txt", b"once upon")},
            data={"workflow_id": wid},
            headers=alice.headers,
        )
    ).json()
    await client.post(
        f"{API}/{wid}/scenes",
        json={"number": 1, "description": "d", "prompt": "p", "image_file_id": image["id"]},
        headers=alice.headers,
    )
    files = (await client.get(f"{API}/{wid}/files", headers=alice.headers)).json()["items"]
    assert {f["id"] for f in files} == {image["id"], linked["id"]}
    # The scene keeps its image's bytes even after the file handle is deleted.
    await client.delete(f"/api/v1/files/{image['id']}", headers=alice.headers)
    from datetime import timedelta

    from app import storage

    await run_cleanup(blob_grace=timedelta(0))
    assert await storage.exists(ObjectId(alice.id), image["sha256"])
    bad_link = await client.post(
        "/api/v1/files",
        files={"file": ("x", b"x")},
        data={"workflow_id": str(ObjectId())},
        headers=alice.headers,
    )
    assert bad_link.status_code == 422

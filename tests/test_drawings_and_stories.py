"""Drawings (images checked by their bytes, edits appended) and stories (favourites, links)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from bson import ObjectId

from app import storage
from app.jobs.cleanup import run_cleanup
from tests.factories import TestUser

PERMANENT = {"permanent": "true"}  # past the trash: what a purge frees

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64)


async def draw(
    client: httpx.AsyncClient, user: TestUser, data: bytes = PNG, **fields
) -> httpx.Response:
    return await client.post(
        "/api/v1/drawings",
        files={"image": ("d.png", data, "image/png")},
        data=fields,
        headers=user.headers,
    )


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/drawings")).status_code == 401
    assert (await client.get("/api/v1/stories")).status_code == 401


async def test_drawings_accept_only_images_by_their_bytes(
    client: httpx.AsyncClient, alice: TestUser, seeded_tutorials: list[str]
) -> None:
    for data in (PNG, JPEG, WEBP):
        response = await draw(client, alice, data)
        assert response.status_code == 201, response.text
    created = (await draw(client, alice, tutorial_slug="sitting-cat")).json()
    assert created["tutorial_slug"] == "sitting-cat" and created["edited_images"] == []
    assert created["uploaded_image"]["content_type"] == "image/png"
    before = await storage.blob_stats(ObjectId(alice.id))
    for data in (
        b"GIF89a" + bytes(20),
        b"<svg></svg>" + bytes(20),
        b"not an image at all",
        b"\x89PN",
    ):
        refused = await client.post(
            "/api/v1/drawings", files={"image": ("x.png", data, "image/png")}, headers=alice.headers
        )
        assert refused.status_code == 415, data
    assert (await draw(client, alice, tutorial_slug="no-such-tutorial")).status_code == 422
    await run_cleanup(blob_grace=timedelta(0))
    assert await storage.blob_stats(ObjectId(alice.id)) == before


async def test_edits_are_appended_and_files_listed(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    drawing = (await draw(client, alice)).json()
    first = await client.post(
        f"/api/v1/drawings/{drawing['id']}/edits",
        files={"image": ("e.png", PNG + b"1")},
        headers=alice.headers,
    )
    second = await client.post(
        f"/api/v1/drawings/{drawing['id']}/edits",
        files={"image": ("e.jpg", JPEG + b"2")},
        headers=alice.headers,
    )
    assert first.status_code == second.status_code == 201
    edits = second.json()["edited_images"]
    assert [e["content_type"] for e in edits] == ["image/png", "image/jpeg"]
    image = await client.get(f"/api/v1/files/{edits[1]['id']}/content", headers=alice.headers)
    assert image.content == JPEG + b"2"
    bad = await client.post(
        f"/api/v1/drawings/{drawing['id']}/edits",
        files={"image": ("e.txt", b"hello there, world")},
        headers=alice.headers,
    )
    assert bad.status_code == 415
    assert (
        len(
            (await client.get(f"/api/v1/drawings/{drawing['id']}", headers=alice.headers)).json()[
                "edited_images"
            ]
        )
        == 2
    )


async def test_stories_favourites_filters_and_drawing_deletion(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    drawing = (await draw(client, alice)).json()
    theirs = (await draw(client, bob)).json()
    image = (
        await client.post(
            "/api/v1/files", files={"file": ("s.png", PNG + b"story")}, headers=alice.headers
        )
    ).json()
    for body in (
        {"drawing_id": theirs["id"]},
        {"image_file_id": theirs["uploaded_image"]["id"]},
        {"text": {"de": "nur deutsch"}},
    ):
        response = await client.post(
            "/api/v1/stories",
            json={"title": "t", "text": {"en": "x"}, **body},
            headers=alice.headers,
        )
        assert response.status_code == 422, body
    story = (
        await client.post(
            "/api/v1/stories",
            json={
                "title": "The cat",
                "text": {"en": "Once upon a time", "de": "Es war einmal"},
                "drawing_id": drawing["id"],
                "image_file_id": image["id"],
                "generation_time_ms": 1234,
            },
            headers=alice.headers,
        )
    ).json()
    assert story["is_favorite"] is False and story["text"]["de"] == "Es war einmal"
    other = (
        await client.post(
            "/api/v1/stories", json={"title": "Other", "text": {"en": "x"}}, headers=alice.headers
        )
    ).json()
    faved = await client.patch(
        f"/api/v1/stories/{story['id']}", json={"is_favorite": True}, headers=alice.headers
    )
    assert faved.json()["is_favorite"] is True
    favourites = (
        await client.get("/api/v1/stories", params={"favorite": "true"}, headers=alice.headers)
    ).json()["items"]
    assert story["id"] in {s["id"] for s in favourites} and other["id"] not in {
        s["id"] for s in favourites
    }
    by_drawing = (
        await client.get(
            "/api/v1/stories", params={"drawing_id": drawing["id"]}, headers=alice.headers
        )
    ).json()["items"]
    assert [s["id"] for s in by_drawing] == [story["id"]]
    summary = (await client.get("/api/v1/analytics/summary", headers=alice.headers)).json()
    assert summary["favorite_stories"] >= 1 and summary["stories"] >= 2 and summary["drawings"] >= 1
    # Deleting the drawing keeps the story and unlinks it.
    assert (
        await client.delete(
            f"/api/v1/drawings/{drawing['id']}", params=PERMANENT, headers=alice.headers
        )
    ).status_code == 204
    kept = (await client.get(f"/api/v1/stories/{story['id']}", headers=alice.headers)).json()
    assert kept["drawing_id"] is None and kept["title"] == "The cat"
    assert (
        await client.get(f"/api/v1/files/{drawing['uploaded_image']['id']}", headers=alice.headers)
    ).status_code == 404
    assert (
        await client.patch(
            f"/api/v1/stories/{story['id']}", json={"title": None}, headers=alice.headers
        )
    ).status_code == 422

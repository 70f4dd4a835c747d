"""Sites over HTTP: commits that store only changes, exact replay of every version, optimistic
concurrency, restore, diff, publish and public serving, ZIP export."""

from __future__ import annotations

import base64
import io
import zipfile
from collections import OrderedDict
from datetime import UTC, datetime

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from app import storage
from app.observability import command_recorder
from app.sites import versions
from app.sites.paths import InvalidPath, normalise_path
from documents.site import Site, SiteFile, SiteHistory, manifest_at
from tests.factories import TestUser, register_user
from tests.racing import Racers, needs_isolation
from tests.test_cli import run_cli

API = "/api/v1/sites"


async def new_site(client: httpx.AsyncClient, user: TestUser, **body) -> dict:
    response = await client.post(API, json={"title": "Bakery", **body}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def commit(
    client: httpx.AsyncClient, user: TestUser, site_id: str, base: int, changes: list, **extra
) -> httpx.Response:
    return await client.post(
        f"{API}/{site_id}/versions",
        json={"base_version": base, "changes": changes, **extra},
        headers=user.headers,
    )


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(API)).status_code == 401
    assert (await client.post(API, json={"title": "x"})).status_code == 401
    assert (await client.get(f"{API}/{ObjectId()}/versions/1")).status_code == 401


async def test_create_commit_and_read_versions(client: httpx.AsyncClient, alice: TestUser) -> None:
    site = await new_site(
        client,
        alice,
        theme={"primary": "#c0ffee", "font": "Inter"},
        files=[
            {"path": "index.html", "content": "<h1>v1</h1>"},
            {"path": "./css//site.css", "content": "h1{}"},
        ],
    )
    assert site["current_version"] == 1 and site["is_published"] is False
    assert [f["path"] for f in site["files"]] == ["css/site.css", "index.html"]
    assert site["files"][1]["content_type"] == "text/html"
    assert site["theme"] == {"primary": "#c0ffee", "font": "Inter"}
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    second = await commit(
        client,
        alice,
        site["id"],
        1,
        [
            {"path": "index.html", "content": "<h1>v2</h1>"},
            {"path": "img/logo.png", "content_base64": png},
        ],
        label="With logo",
        description="adds the logo",
    )
    assert second.status_code == 201, second.text
    version = second.json()
    assert version["number"] == 2 and version["label"] == "With logo"
    assert {(c["path"], c["op"]) for c in version["changes"]} == {
        ("index.html", "put"),
        ("img/logo.png", "put"),
    }
    third = await commit(client, alice, site["id"], 2, [{"path": "css/site.css", "delete": True}])
    assert third.status_code == 201
    v1 = (await client.get(f"{API}/{site['id']}/versions/1", headers=alice.headers)).json()
    assert [f["path"] for f in v1["files"]] == ["css/site.css", "index.html"]
    v3 = (await client.get(f"{API}/{site['id']}/versions/3", headers=alice.headers)).json()
    assert [f["path"] for f in v3["files"]] == ["img/logo.png", "index.html"]
    assert (
        await client.get(f"{API}/{site['id']}/versions/4", headers=alice.headers)
    ).status_code == 404
    old = await client.get(
        f"{API}/{site['id']}/files/index.html", params={"version": 1}, headers=alice.headers
    )
    assert old.text == "<h1>v1</h1>" and old.headers["content-type"].startswith("text/html")
    now = await client.get(f"{API}/{site['id']}/files/index.html", headers=alice.headers)
    assert now.text == "<h1>v2</h1>"
    logo = await client.get(f"{API}/{site['id']}/files/img/logo.png", headers=alice.headers)
    assert logo.headers["content-type"] == "image/png"
    history = (await client.get(f"{API}/{site['id']}/versions", headers=alice.headers)).json()
    assert [v["number"] for v in history["items"]] == [3, 2, 1]
    assert history["items"][0]["changed_paths"] == ["css/site.css"]
    paged = (
        await client.get(f"{API}/{site['id']}/versions", params={"limit": 2}, headers=alice.headers)
    ).json()
    rest = (
        await client.get(
            f"{API}/{site['id']}/versions",
            params={"cursor": paged["next_cursor"]},
            headers=alice.headers,
        )
    ).json()
    assert [v["number"] for v in paged["items"] + rest["items"]] == [3, 2, 1]
    diff = await client.get(
        f"{API}/{site['id']}/diff", params={"from": 1, "to": 3}, headers=alice.headers
    )
    assert diff.json() == {
        "added": ["img/logo.png"],
        "removed": ["css/site.css"],
        "modified": ["index.html"],
    }


async def test_stale_base_is_409_and_changes_nothing(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "a"}])
    stale = await commit(client, alice, site["id"], 0, [{"path": "index.html", "content": "b"}])
    assert stale.status_code == 409
    after = (await client.get(f"{API}/{site['id']}", headers=alice.headers)).json()
    assert after["current_version"] == 1


@needs_isolation
async def test_concurrent_commits_on_one_base_exactly_one_wins(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser, app: FastAPI
) -> None:
    """The guard `current_version: base` of one findAndModify decides between 20 connections
    at once: an engine must isolate updates of one document for that (tests/racing.py). The
    losers' contents were stored before they lost: they stop counting against the quota."""
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "start"}])
    responses = await racers.race(
        [
            lambda http, i=i: commit(
                http, alice, site["id"], 1, [{"path": "index.html", "content": f"take {i}"}]
            )
            for i in range(20)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    after = (await client.get(f"{API}/{site['id']}", headers=alice.headers)).json()
    assert after["current_version"] == 2
    check = await run_cli(app.state.settings, "quota", "check", "--owner", alice.email)
    assert check.returncode == 0 and "drift: 0" in check.stderr, check.stderr


@pytest.mark.parametrize(
    "change",
    [
        {"path": "../etc/passwd", "content": "x"},
        {"path": "/abs.html", "content": "x"},
        {"path": "a\\b.html", "content": "x"},
        {"path": "a\x00b", "content": "x"},
        {"path": "a" * 513, "content": "x"},
        {"path": "dir/", "content": "x"},
        {"path": "x.html"},
        {"path": "x.html", "content": "a", "delete": True},
        {"path": "x.html", "content_base64": "not base64!"},
        {"path": "x.html", "file_id": str(ObjectId())},
        {"path": "missing.html", "delete": True},
        {"path": {"$ne": 1}, "content": "x"},
    ],
)
async def test_bad_changes_are_422_and_change_nothing(
    client: httpx.AsyncClient, alice: TestUser, change: dict
) -> None:
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "a"}])
    response = await commit(client, alice, site["id"], 1, [change])
    assert response.status_code == 422, response.text
    after = (await client.get(f"{API}/{site['id']}", headers=alice.headers)).json()
    assert after["current_version"] == 1 and [f["path"] for f in after["files"]] == ["index.html"]


async def test_links_must_be_the_callers(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    bobs = (await client.post("/api/v1/conversations", json={}, headers=bob.headers)).json()
    for body in (
        {"conversation_id": bobs["id"]},
        {"project_id": str(ObjectId())},
        {"theme": {"x": "y" * 17000}},
    ):
        response = await client.post(API, json={"title": "t", **body}, headers=alice.headers)
        assert response.status_code == 422, body
    mine = (await client.post("/api/v1/conversations", json={}, headers=alice.headers)).json()
    message = (
        await client.post(
            f"/api/v1/conversations/{mine['id']}/messages",
            json={"role": "assistant", "content": "made it"},
            headers=alice.headers,
        )
    ).json()
    site = await new_site(client, alice, conversation_id=mine["id"])
    foreign_message = (
        await client.post(
            f"/api/v1/conversations/{bobs['id']}/messages",
            json={"role": "user", "content": "b"},
            headers=bob.headers,
        )
    ).json()
    refused = await commit(
        client,
        alice,
        site["id"],
        0,
        [{"path": "a.txt", "content": "x"}],
        message_id=foreign_message["id"],
    )
    assert refused.status_code == 422
    linked = await commit(
        client, alice, site["id"], 0, [{"path": "a.txt", "content": "x"}], message_id=message["id"]
    )
    assert linked.status_code == 201 and linked.json()["message_id"] == message["id"]


async def test_file_ids_and_preview(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    mine = (
        await client.post("/api/v1/files", files={"file": ("p.png", png)}, headers=alice.headers)
    ).json()
    text = (
        await client.post(
            "/api/v1/files", files={"file": ("t.txt", b"hello")}, headers=alice.headers
        )
    ).json()
    theirs = (
        await client.post("/api/v1/files", files={"file": ("p.png", png)}, headers=bob.headers)
    ).json()
    site = await new_site(
        client,
        alice,
        preview_file_id=mine["id"],
        files=[{"path": "img/a.png", "file_id": mine["id"]}],
    )
    assert site["preview_file_id"] == mine["id"] and site["files"][0]["sha256"] == mine["sha256"]
    for body in ({"preview_file_id": theirs["id"]}, {"preview_file_id": text["id"]}):
        assert (
            await client.patch(f"{API}/{site['id']}", json=body, headers=alice.headers)
        ).status_code == 422
    foreign = await commit(
        client, alice, site["id"], 1, [{"path": "b.png", "file_id": theirs["id"]}]
    )
    assert foreign.status_code == 422


async def test_restore_creates_a_new_version(client: httpx.AsyncClient, alice: TestUser) -> None:
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "one"}])
    await commit(
        client,
        alice,
        site["id"],
        1,
        [{"path": "index.html", "content": "two"}, {"path": "extra.js", "content": "x()"}],
    )
    restored = await client.post(
        f"{API}/{site['id']}/restore", json={"version": 1}, headers=alice.headers
    )
    assert restored.status_code == 201
    assert restored.json()["number"] == 3 and restored.json()["restored_from"] == 1
    current = (await client.get(f"{API}/{site['id']}", headers=alice.headers)).json()
    assert current["current_version"] == 3 and [f["path"] for f in current["files"]] == [
        "index.html"
    ]
    assert (
        await client.get(f"{API}/{site['id']}/files/index.html", headers=alice.headers)
    ).text == "one"
    two = await client.get(
        f"{API}/{site['id']}/files/extra.js", params={"version": 2}, headers=alice.headers
    )
    assert two.text == "x()"
    missing = await client.post(
        f"{API}/{site['id']}/restore", json={"version": 9}, headers=alice.headers
    )
    assert missing.status_code == 404


async def test_publish_serves_only_the_published_version(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "<p>live</p>"}])
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://test")  # type: ignore[attr-defined]
    assert (await anonymous.get(f"/p/{site['id']}/")).status_code == 404
    published = await client.post(f"{API}/{site['id']}/publish", json={}, headers=alice.headers)
    assert published.json()["is_published"] is True and published.json()["published_version"] == 1
    assert published.json()["published_url"] == f"http://sites.test/p/{site['id']}/"
    await commit(client, alice, site["id"], 1, [{"path": "index.html", "content": "<p>draft</p>"}])
    page = await anonymous.get(f"/p/{site['id']}/")
    assert page.status_code == 200 and page.text == "<p>live</p>"
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["etag"]
    assert (await anonymous.get(f"/p/{site['id']}/index.html")).text == "<p>live</p>"
    assert (await anonymous.get(f"/p/{site['id']}/../secret")).status_code == 404
    assert (await anonymous.get(f"/p/{site['id']}/a/%2E%2E/index.html")).status_code == 404
    assert (await anonymous.get(f"/p/{site['id']}/nope.html")).status_code == 404
    bad_version = await client.post(
        f"{API}/{site['id']}/publish", json={"version": 7}, headers=alice.headers
    )
    assert bad_version.status_code == 422
    await client.post(f"{API}/{site['id']}/unpublish", headers=alice.headers)
    assert (await anonymous.get(f"/p/{site['id']}/")).status_code == 404
    assert (await anonymous.get(f"/p/{ObjectId()}/")).status_code == 404
    assert (await anonymous.get("/p/garbage/")).status_code == 404


async def test_export_is_a_zip_of_a_version(client: httpx.AsyncClient, alice: TestUser) -> None:
    binary = bytes(range(256)) * 10
    site = await new_site(
        client,
        alice,
        files=[
            {"path": "index.html", "content": "<h1>1</h1>"},
            {"path": "a/b.bin", "content_base64": base64.b64encode(binary).decode()},
        ],
    )
    await commit(client, alice, site["id"], 1, [{"path": "index.html", "content": "<h1>2</h1>"}])
    response = await client.get(
        f"{API}/{site['id']}/export", params={"version": 1}, headers=alice.headers
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["a/b.bin", "index.html"]
    assert archive.read("index.html") == b"<h1>1</h1>" and archive.read("a/b.bin") == binary


async def test_manifest_read_costs_two_commands(client: httpx.AsyncClient, alice: TestUser) -> None:
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "x"}])
    for _ in range(2):  # built from the history, then from the process's cache
        with command_recorder.capture() as commands:
            response = await client.get(f"{API}/{site['id']}/versions/1", headers=alice.headers)
        assert response.status_code == 200
        assert commands == ["find", "find"]


async def test_cached_manifests_are_served_only_to_the_owner_of_a_site_that_exists(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    files = [{"path": "b.html", "content": "b"}, {"path": "a.html", "content": "a"}]
    site = await new_site(client, alice, files=files)
    deleted = await commit(client, alice, site["id"], 1, [{"path": "a.html", "delete": True}])
    assert deleted.status_code == 201
    urls = [f"{API}/{site['id']}/versions/1", f"{API}/{site['id']}/diff?from=1&to=2"]
    urls.append(f"{API}/{site['id']}/files/a.html?version=1")
    first = [await client.get(url, headers=alice.headers) for url in urls]
    again = [await client.get(url, headers=alice.headers) for url in urls]
    assert [r.status_code for r in first] == [200, 200, 200]
    assert [r.content for r in again] == [r.content for r in first]
    assert [f["path"] for f in first[0].json()["files"]] == ["a.html", "b.html"]
    assert first[1].json()["removed"] == ["a.html"]

    assert [(await client.get(url, headers=bob.headers)).status_code for url in urls] == [404] * 3
    assert (await client.delete(f"{API}/{site['id']}", headers=alice.headers)).status_code == 204
    assert [(await client.get(url, headers=alice.headers)).status_code for url in urls] == [404] * 3


def test_the_manifest_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    def manifest(files: int) -> dict:
        return {
            f"{n}.html": SiteFile(path=f"{n}.html", sha256="0" * 64, size=1, content_type="t")
            for n in range(files)
        }

    monkeypatch.setattr(versions, "MANIFEST_CACHE_FILES", 10)
    monkeypatch.setattr(versions, "_manifests", OrderedDict())
    monkeypatch.setattr(versions, "_cached_files", 0)
    site = ObjectId()
    versions.remember_manifest(site, 1, manifest(11))  # larger than the whole cache: not kept
    assert versions.cached_manifest(site, 1) is None
    for number in (2, 3, 4):
        versions.remember_manifest(site, number, manifest(4))
    assert versions.cached_manifest(site, 2) is None  # the least recently read went first
    assert list(versions.cached_manifest(site, 3) or {}) == ["0.html", "1.html", "2.html", "3.html"]
    assert versions.cached_manifest(site, 4) is not None and versions._cached_files == 8


async def test_history_stores_only_changes(client: httpx.AsyncClient, app: FastAPI) -> None:
    """200 files, 100 one-file commits: the document grows by the changes, GridFS by the new
    bytes only. (BENCHMARKS.md has the 500-commit figures.)"""
    user = await register_user(client, name="Builder")
    files = [
        {"path": f"pages/page-{i:03d}.html", "content": f"<p>page {i}</p>" + "x" * 2000}
        for i in range(200)
    ]
    site = await new_site(client, user, files=files)
    for n in range(100):
        response = await commit(
            client,
            user,
            site["id"],
            n + 1,
            [
                {
                    "path": f"pages/page-{n % 200:03d}.html",
                    "content": f"<p>edit {n}</p>" + "y" * 2000,
                }
            ],
        )
        assert response.status_code == 201
    import bson

    raw = await Site.get_pymongo_collection().find_one({"_id": ObjectId(site["id"])})
    assert len(bson.encode(raw)) < 256 * 1024
    _, stored_bytes, _ = await storage.blob_stats(ObjectId(user.id))
    unique = sum(len(f["content"]) for f in files) + sum(
        len(f"<p>edit {n}</p>") + 2000 for n in range(100)
    )
    assert stored_bytes <= unique * 1.05


# --- the replay model, property-tested ----------------------------------------------------------

paths = st.sampled_from([f"f{i}.txt" for i in range(6)])
commit_steps = st.lists(
    st.lists(
        st.tuples(paths, st.booleans(), st.integers(0, 3)),
        min_size=1,
        max_size=4,
        unique_by=lambda t: t[0],
    ),
    min_size=1,
    max_size=40,
)


def _build(steps: list, checkpoint_every: int) -> tuple[dict, list[dict]]:
    """Commit `steps` the way the service does; return the raw site and the model's manifests."""
    model: list[dict] = [{}]
    files: dict = {}
    versions = []
    for number, step in enumerate(steps, start=1):
        changes = []
        for path, delete, content in step:
            prev = files.get(path)
            prev_state = {k: prev[k] for k in ("sha256", "size", "content_type")} if prev else None
            if delete:
                if prev is None:
                    continue
                changes.append({"path": path, "op": "delete", "prev": prev_state})
                files.pop(path)
            else:
                entry = {
                    "path": path,
                    "sha256": f"{path}-{content}",
                    "size": content,
                    "content_type": "text/plain",
                }
                changes.append({"op": "put", "prev": prev_state, **entry})
                files[path] = entry
        version = {"number": number, "changes": changes, "created_at": datetime.now(UTC)}
        if number % checkpoint_every == 0:
            version["checkpoint"] = list(files.values())
        versions.append(version)
        model.append({p: dict(f) for p, f in files.items()})
    site = {"current_version": len(steps), "files": list(files.values()), "versions": versions}
    return site, model


@settings(max_examples=150, deadline=None)
@given(steps=commit_steps, checkpoint_every=st.integers(1, 10), data=st.data())
def test_replay_rebuilds_every_version_exactly(steps: list, checkpoint_every: int, data) -> None:
    site, model = _build(steps, checkpoint_every)
    history = SiteHistory.model_validate(site)
    for number in range(len(model)):
        rebuilt = {path: file.model_dump() for path, file in manifest_at(history, number).items()}
        assert rebuilt == model[number], number


@given(st.text(max_size=600))
def test_normalised_paths_are_safe_and_stable(raw: str) -> None:
    try:
        path = normalise_path(raw)
    except InvalidPath:
        return
    assert path and not path.startswith("/") and "\\" not in path and len(path) <= 512
    assert ".." not in path.split("/") and "" not in path.split("/") and "." not in path.split("/")
    assert all(ord(ch) >= 32 and ord(ch) != 127 for ch in path)
    assert normalise_path(path) == path


async def test_concurrent_commits_to_different_sites_all_land(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """Six sites, two rounds of one commit each at once over separate connections: no
    document is shared, so every commit lands on any engine, and so do their new blobs."""
    sites = [
        (await new_site(client, alice, files=[{"path": "index.html", "content": f"s{n}"}]))["id"]
        for n in range(6)
    ]
    for base in (1, 2):
        responses = await racers.race(
            [
                lambda http, site_id=site_id, base=base: commit(
                    http,
                    alice,
                    site_id,
                    base,
                    [{"path": "index.html", "content": f"{site_id}/{base}"}],
                )
                for site_id in sites
            ]
        )
        assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    for site_id in sites:
        page = await client.get(f"{API}/{site_id}/files/index.html", headers=alice.headers)
        assert page.text == f"{site_id}/2"


async def test_a_commit_of_one_new_file_costs_nine_commands(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    site = await new_site(client, alice, files=[{"path": "index.html", "content": "v1"}])
    with command_recorder.capture() as commands:
        response = await commit(
            client, alice, site["id"], 1, [{"path": "index.html", "content": "v2"}]
        )
    assert response.status_code == 201, response.text
    assert commands == [
        "find",  # the caller
        "find",  # the site's head
        "insert",  # the upload lease, naming the new bytes' sha256
        "update",  # no blob of those bytes to reuse
        "update",  # its bytes counted as use, guarded by the storage limit
        "insert",  # the chunk
        "insert",  # the GridFS file document
        "update",  # the version, on its base
        "delete",  # the lease, once the version references the blob
    ]

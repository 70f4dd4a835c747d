"""Files over HTTP: streaming uploads into the content-addressed store, downloads with ETag and
ranges, size and type checks, and garbage collection of unreferenced blobs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from datetime import timedelta

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI

from app import engine, storage
from app.jobs.cleanup import run_cleanup
from app.settings import Settings
from documents.blob import CHUNKS, FILES
from tests.factories import TestUser, register_user
from tests.racing import Racers
from tests.test_cli import run_cli

API = "/api/v1/files"
PERMANENT = {"permanent": "true"}  # past the trash: what a purge frees
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


async def upload(
    client: httpx.AsyncClient,
    user: TestUser,
    data: bytes,
    filename: str = "a.bin",
    content_type: str = "application/octet-stream",
    **fields: str,
) -> httpx.Response:
    return await client.post(
        API, files={"file": (filename, data, content_type)}, data=fields, headers=user.headers
    )


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(API)).status_code == 401
    assert (await client.post(API, files={"file": ("a", b"x")})).status_code == 401
    assert (await client.get(f"{API}/{ObjectId()}/content")).status_code == 401


async def test_upload_sniffs_the_type_and_dedupes(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    first = await upload(client, alice, PNG, "drawing.png", "text/plain", kind="image")
    assert first.status_code == 201, first.text
    meta = first.json()
    assert meta["content_type"] == "image/png"  # the bytes decide, not the client
    assert meta["size"] == len(PNG) and meta["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert meta["kind"] == "image" and meta["filename"] == "drawing.png"
    owner = ObjectId(alice.id)
    files_before, _, chunks_before = await storage.blob_stats(owner)
    second = await upload(client, alice, PNG, "copy.png")
    assert second.status_code == 201 and second.json()["id"] != meta["id"]
    assert await storage.blob_stats(owner) == (files_before, len(PNG), chunks_before)
    page = await client.get(API, headers=alice.headers)
    assert {item["id"] for item in page.json()["items"]} >= {meta["id"], second.json()["id"]}
    html = await upload(client, alice, b"<h1>hi</h1>", "index.html", "text/html")
    assert html.json()["content_type"] == "text/html"
    binary = await upload(client, alice, bytes([0, 159, 146, 150]) * 10, "x", "text/html")
    assert binary.json()["content_type"] == "application/octet-stream"


async def test_concurrent_identical_uploads_store_one_blob(
    client: httpx.AsyncClient, racers: Racers, settings: Settings
) -> None:
    """20 identical uploads at once over separate processes and connections: the unique index
    on (owner, sha256) settles the race, one blob stays, nothing is left behind and the storage
    counter holds its bytes once."""
    user = await register_user(client, name="Racer")
    data = os.urandom(300 * 1024)
    responses = await racers.race([lambda http: upload(http, user, data)] * 20)
    assert {r.status_code for r in responses} == {201}
    files, size, chunks = await storage.blob_stats(ObjectId(user.id))
    assert (files, size) == (1, len(data))
    assert chunks == -(-len(data) // storage.CHUNK_SIZE)
    if engine.profile().isolated_updates:
        # The counter is `$inc`ed from both processes' pools: exact only where the engine
        # isolates concurrent updates of one document (README "Engines").
        check = await run_cli(settings, "quota", "check", "--owner", user.email)
        assert check.returncode == 0 and "drift: 0" in check.stderr, check.stderr
        usage = await client.get("/api/v1/users/me/limits", headers=user.headers)
        assert usage.json()["storage"]["used_bytes"] == len(data)


async def test_oversized_and_empty_uploads_store_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await register_user(client, name="Big")
    too_big = await upload(client, user, b"x" * (settings.max_upload_bytes + 1))
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    empty = await upload(client, user, b"")
    assert empty.status_code == 422
    missing = await client.post(API, files={"other": ("a", b"abc")}, headers=user.headers)
    assert missing.status_code == 422
    not_multipart = await client.post(API, json={"file": "abc"}, headers=user.headers)
    assert not_multipart.status_code == 415
    assert await storage.blob_stats(ObjectId(user.id)) == (0, 0, 0)
    listed = await client.get(API, headers=user.headers)
    assert listed.json()["items"] == []


async def test_filenames_are_sanitised(client: httpx.AsyncClient, alice: TestUser) -> None:
    # Built by hand: clients percent-encode such names, a hostile one need not.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; '
        b'filename="..\\..\\etc/pass\x01wd<x>.txt"'
        b"\r\nContent-Type: text/plain\r\n\r\ndata\r\n--b--\r\n"
    )
    response = await client.post(
        API,
        content=body,
        headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "passwdx.txt"
    download = await client.get(f"{API}/{response.json()['id']}/content", headers=alice.headers)
    assert download.headers["content-disposition"].startswith('attachment; filename="passwdx.txt"')


async def test_download_with_etag_and_ranges(client: httpx.AsyncClient, alice: TestUser) -> None:
    data = bytes(range(256)) * 2048  # 512 KiB: spans several GridFS chunks
    meta = (await upload(client, alice, data, "blob.bin")).json()
    url = f"{API}/{meta['id']}/content"
    full = await client.get(url, headers=alice.headers)
    assert full.status_code == 200 and full.content == data
    etag = full.headers["etag"]
    assert etag == f'"{meta["sha256"]}"'
    assert full.headers["x-content-type-options"] == "nosniff"
    cached = await client.get(url, headers={**alice.headers, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=261100-262200": (261100, 262200),
        "bytes=-100": (len(data) - 100, len(data) - 1),
        f"bytes={len(data) - 5}-": (len(data) - 5, len(data) - 1),
        f"bytes=10-{len(data) * 2}": (10, len(data) - 1),
    }
    for header, (start, end) in cases.items():
        part = await client.get(url, headers={**alice.headers, "Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start : end + 1], header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    beyond = await client.get(url, headers={**alice.headers, "Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    for ignored in ("bytes=0-1,5-6", "items=0-5", "bytes=9-3"):
        whole = await client.get(url, headers={**alice.headers, "Range": ignored})
        assert whole.status_code == 200 and len(whole.content) == len(data)


async def test_delete_keeps_the_blob_until_nothing_references_it(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await register_user(client, name="Collector")
    owner = ObjectId(user.id)
    data = os.urandom(1000)
    one = (await upload(client, user, data)).json()
    two = (await upload(client, user, data)).json()
    assert (
        await client.delete(f"{API}/{one['id']}", params=PERMANENT, headers=user.headers)
    ).status_code == 204
    assert (await client.get(f"{API}/{one['id']}", headers=user.headers)).status_code == 404
    await run_cleanup(blob_grace=timedelta(0))
    assert await storage.exists(owner, two["sha256"])  # the second handle still uses it
    download = await client.get(f"{API}/{two['id']}/content", headers=user.headers)
    assert download.content == data
    await client.delete(f"{API}/{two['id']}", params=PERMANENT, headers=user.headers)
    dry = await run_cleanup(dry_run=True, blob_grace=timedelta(0))
    assert dry.blobs_deleted >= 1 and await storage.exists(owner, two["sha256"])
    # Within the grace period nothing is collected (an upload may be about to reference it).
    await run_cleanup(blob_grace=timedelta(hours=1))
    assert await storage.exists(owner, two["sha256"])
    report = await run_cleanup(blob_grace=timedelta(0))
    assert report.blobs_deleted >= 1 and not await storage.exists(owner, two["sha256"])
    assert await storage.blob_stats(owner) == (0, 0, 0)


async def test_an_upload_cut_off_by_the_client_leaves_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await register_user(client, name="Flaky")

    async def broken_body():
        boundary = b"----cut"
        yield (
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        )
        yield os.urandom(600 * 1024)
        raise ConnectionResetError("client went away")

    response = await client.post(
        API,
        content=broken_body(),
        headers={**user.headers, "Content-Type": "multipart/form-data; boundary=----cut"},
    )
    assert response.status_code in (400, 422)
    assert await storage.blob_stats(ObjectId(user.id)) == (0, 0, 0)


KILLED_UPLOAD = """
import asyncio, os, sys
from bson import ObjectId
from app import database, storage
from app.settings import Settings

async def main():
    await database.connect(Settings(mongodb_url=sys.argv[1], mongodb_db=sys.argv[2]))
    async def endless():
        while True:
            yield os.urandom(256 * 1024)
            print("chunk", flush=True)
            await asyncio.sleep(0.01)
    owner = ObjectId(sys.argv[3])
    async with storage.upload_lease(owner) as lease:
        await storage.put(owner, endless(), lease=lease)

asyncio.run(main())
"""


async def test_orphan_chunks_of_a_killed_upload_are_collected(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await register_user(client, name="Killed")
    owner = ObjectId(user.id)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_UPLOAD,
        settings.mongodb_url,
        settings.mongodb_db,
        user.id,
        stdout=asyncio.subprocess.PIPE,
    )
    for _ in range(12):  # a few batches of chunks reach the database
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert line.startswith(b"chunk")
    process.send_signal(signal.SIGKILL)
    await process.wait()
    from app.database import get_db

    chunks = get_db()[CHUNKS]
    known = {raw["_id"] async for raw in get_db()[FILES].find({}, {"_id": 1})}
    orphans = [fid for fid in await chunks.distinct("files_id") if fid not in known]
    assert orphans, "the killed upload should have left chunks behind"
    # Its lease still stands until it times out, so a sweep keeps the chunks whatever the grace.
    await run_cleanup(blob_grace=timedelta(0))
    assert await chunks.count_documents({"files_id": {"$in": orphans}}) > 0
    report = await run_cleanup(blob_grace=timedelta(0), upload_lease_timeout=timedelta(0))
    assert report.orphan_chunk_files >= 1 and report.abandoned_uploads >= 1
    assert await chunks.count_documents({"files_id": {"$in": orphans}}) == 0
    assert await storage.blob_stats(owner) == (0, 0, 0)


# A fixed id nobody has (parallel workers must collect the same test ids).
@pytest.mark.parametrize("bad_id", ["nope", "0" * 24, "65a0f0f0f0f0f0f0f0f0f0f0"])
async def test_unknown_ids_are_404(client: httpx.AsyncClient, alice: TestUser, bad_id: str) -> None:
    for path in (f"{API}/{bad_id}", f"{API}/{bad_id}/content"):
        assert (await client.get(path, headers=alice.headers)).status_code == 404
    assert (await client.delete(f"{API}/{bad_id}", headers=alice.headers)).status_code == 404

"""Live streams over a real server: two clients on one conversation see 200 appends from 4
writers in seq order; a client that drops and resumes with `Last-Event-ID` misses nothing and
repeats nothing; edits arrive; a generation's stream closes after its final status; one reader
per conversation per process however many watch it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from app.settings import Settings
from tests.servers import ServedApp, served_app

API = "/api/v1"


@pytest.fixture(scope="module")
async def server(settings: Settings) -> AsyncIterator[ServedApp]:
    async with served_app(settings) as served:
        yield served


async def _user(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    email = f"{name}-{id(http)}@example.com"
    await http.post(f"{API}/auth/register", json={"email": email, "password": "stream-pass-1"})
    token = await http.post(
        f"{API}/auth/token", data={"username": email, "password": "stream-pass-1"}
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _events(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], last_id: str | None = None
) -> AsyncIterator[tuple[str, str, dict]]:
    """(event, id, data) of one connection, until the server ends it."""
    extra = {"Last-Event-ID": last_id} if last_id is not None else {}
    async with http.stream("GET", path, headers={**headers, **extra}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if "data" in fields:
                    yield (
                        fields.get("event", "message"),
                        fields.get("id", ""),
                        json.loads(fields["data"]),
                    )
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


async def _collect(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], count: int, started: asyncio.Event
) -> list[dict]:
    """Messages until `count`, reconnecting with Last-Event-ID as EventSource does."""
    got: list[dict] = []
    last: str | None = None
    while len(got) < count:
        connection = _events(http, path, headers, last)
        started.set()
        async for event, event_id, data in connection:
            if event == "message":
                got.append(data)
                last = event_id
                if len(got) == count:
                    break
        await connection.aclose()
    return got


async def test_two_clients_see_200_appends_from_4_writers_in_order(server: ServedApp):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        headers = await _user(http, "streams")
        made = await http.post(f"{API}/conversations", json={"title": "live"}, headers=headers)
        path = f"{API}/conversations/{made.json()['id']}/events"
        ready = [asyncio.Event(), asyncio.Event()]
        readers = [asyncio.create_task(_collect(http, path, headers, 200, r)) for r in ready]
        for r in ready:
            await r.wait()
        await asyncio.sleep(0.3)  # both subscribed before the first append

        async def writer(w: int) -> None:
            for i in range(50):
                sent = await http.post(
                    f"{path.removesuffix('/events')}/messages",
                    json={"role": "user", "content": f"w{w} m{i}"},
                    headers=headers,
                )
                assert sent.status_code == 201

        await asyncio.gather(*(writer(w) for w in range(4)))
        seen = await asyncio.wait_for(asyncio.gather(*readers), 60)
        stored = await http.get(
            f"{path.removesuffix('/events')}/messages", params={"limit": 100}, headers=headers
        )
        for messages in seen:
            assert [m["seq"] for m in messages] == list(range(1, 201))
            assert len({m["id"] for m in messages}) == 200
        assert seen[0] == seen[1]
        assert {m["id"] for m in stored.json()["items"]} <= {m["id"] for m in seen[0]}


async def test_a_client_that_drops_resumes_without_gaps_or_repeats(server: ServedApp):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        headers = await _user(http, "resume")
        made = await http.post(f"{API}/conversations", json={"title": "resume"}, headers=headers)
        base = f"{API}/conversations/{made.json()['id']}"
        for i in range(30):
            await http.post(
                f"{base}/messages", json={"role": "user", "content": f"m{i}"}, headers=headers
            )
        first: list[tuple[str, dict]] = []
        async for _event, event_id, data in _events(http, f"{base}/events", headers, "0"):
            first.append((event_id, data))
            if len(first) == 12:
                break  # the client drops
        for i in range(30, 45):  # written while it is away
            await http.post(
                f"{base}/messages", json={"role": "user", "content": f"m{i}"}, headers=headers
            )
        second: list[tuple[str, dict]] = []
        async for _event, event_id, data in _events(http, f"{base}/events", headers, first[-1][0]):
            second.append((event_id, data))
            if len(second) == 33:
                break
        seqs = [d["seq"] for _, d in first + second]
        assert seqs == list(range(1, 46))
        assert [d["content"] for _, d in first + second] == [f"m{i}" for i in range(45)]


async def test_edits_arrive_and_one_reader_serves_every_watcher(settings: Settings):
    # Its own server: the gauges it reads count every stream of the process.
    async with (
        served_app(settings) as own,
        httpx.AsyncClient(base_url=own.base_url, timeout=60) as http,
    ):
        headers = await _user(http, "edits")
        made = await http.post(f"{API}/conversations", json={"title": "edits"}, headers=headers)
        base = f"{API}/conversations/{made.json()['id']}"
        sent = await http.post(
            f"{base}/messages", json={"role": "user", "content": "draft"}, headers=headers
        )
        got: list[tuple[str, str, dict]] = []

        async def watch() -> None:
            async for item in _events(http, f"{base}/events", headers):
                got.append(item)
                if item[0] == "message.edited":
                    return

        watchers = [asyncio.create_task(watch()) for _ in range(3)]
        # The three connect in their own time (a fixed half second was not always enough on a
        # loaded machine): wait up to 10 s for the third, then check both gauges.
        for _ in range(100):
            metrics = (await http.get("/metrics")).text
            if "sse_clients 3.0" in metrics:
                break
            await asyncio.sleep(0.1)
        assert "sse_conversation_feeds 1.0" in metrics
        assert "sse_clients 3.0" in metrics
        await http.patch(
            f"{base}/messages/{sent.json()['id']}", json={"content": "final"}, headers=headers
        )
        await asyncio.wait_for(asyncio.gather(*watchers), 20)
        edits = [data for event, _, data in got if event == "message.edited"]
        assert [e["content"] for e in edits] == ["final"] * 3


async def test_a_generation_stream_closes_after_its_final_status(server: ServedApp):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        headers = await _user(http, "gen")
        made = await http.post(
            f"{API}/generations", json={"kind": "ui", "prompt": "p"}, headers=headers
        )
        path = f"{API}/generations/{made.json()['id']}"
        seen: list[tuple[str, str]] = []

        async def watch() -> None:
            async for _event, event_id, data in _events(http, f"{path}/events", headers):
                seen.append((event_id, data["status"]))

        watching = asyncio.create_task(watch())
        await asyncio.sleep(0.3)
        for status in ("running", "succeeded"):
            await http.patch(path, json={"status": status}, headers=headers)
            await asyncio.sleep(0.2)
        await asyncio.wait_for(watching, 10)  # the server closed it
        assert seen == [("1", "queued"), ("2", "running"), ("3", "succeeded")]


async def test_streams_are_scoped_and_checked(server: ServedApp):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        mine = await _user(http, "owner")
        theirs = await _user(http, "other")
        made = await http.post(f"{API}/conversations", json={"title": "x"}, headers=mine)
        path = f"{API}/conversations/{made.json()['id']}/events"
        assert (await http.get(path)).status_code == 401
        assert (await http.get(path, headers=theirs)).status_code == 404
        bad = await http.get(path, headers={**mine, "Last-Event-ID": "{$gt: 1}"})
        assert bad.status_code == 422
        generation = await http.post(
            f"{API}/generations", json={"kind": "ui", "prompt": "p"}, headers=mine
        )
        other = await http.get(
            f"{API}/generations/{generation.json()['id']}/events", headers=theirs
        )
        assert other.status_code == 404

"""Importing chat histories over HTTP: every format's real export (`tests/fixtures/imports/`)
read back through the API as the same tree, re-imports that write nothing twice, later exports
that add only what is new, racing imports, and bad files refused without writing anything."""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from app.settings import Settings
from tests.factories import TestUser, register_user
from tests.racing import Racers, needs_isolation
from tests.servers import served_app, start_server
from tests.test_cli import run_cli

API = "/api/v1/imports"
# Public test data of other projects (their licences and commits: SOURCES.md there).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "imports"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def start(
    client: httpx.AsyncClient, user: TestUser, data: bytes, name: str = "export.json", **fields
) -> httpx.Response:
    return await client.post(
        API,
        files={"file": (name, data, "application/octet-stream")},
        data=fields,
        headers=user.headers,
    )


async def finished(client: httpx.AsyncClient, user: TestUser, job_id: str) -> dict[str, Any]:
    for _ in range(3000):
        job = (await client.get(f"{API}/{job_id}", headers=user.headers)).json()
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"import {job_id} did not finish: {job}")


async def imported(
    client: httpx.AsyncClient, user: TestUser, data: bytes, name: str = "export.json", **fields
) -> dict[str, Any]:
    response = await start(client, user, data, name, **fields)
    assert response.status_code == 202, response.text
    return await finished(client, user, response.json()["id"])


async def messages_of(client: httpx.AsyncClient, user: TestUser, conversation_id: str) -> list:
    messages, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(
                f"/api/v1/conversations/{conversation_id}/messages",
                params=params,
                headers=user.headers,
            )
        ).json()
        messages.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(messages, key=lambda m: m["seq"])


def tree_of(messages: list[dict]) -> list:
    """[(role, content's start, [children...]), ...]: siblings in seq order."""
    children: dict[str | None, list[dict]] = {}
    for message in messages:
        children.setdefault(message["parent_id"], []).append(message)

    def build(parent: str | None) -> list:
        return [(m["role"], m["content"][:24], build(m["id"])) for m in children.get(parent, [])]

    return build(None)


async def conversation_by_source(
    client: httpx.AsyncClient, user: TestUser, source_id: str
) -> dict[str, Any]:
    page = (
        await client.get("/api/v1/conversations", params={"limit": 100}, headers=user.headers)
    ).json()
    found = [c for c in page["items"] if (c.get("source") or {}).get("id") == source_id]
    assert len(found) == 1, [c.get("source") for c in page["items"]]
    return found[0]


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.post(API, files={"file": ("a", b"[]")})).status_code == 401
    assert (await client.get(API)).status_code == 401
    assert (await client.get(f"{API}/{ObjectId()}")).status_code == 401


async def test_another_owners_import_is_404(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    job = await imported(client, alice, fixture("claude-export.json"))
    assert (await client.get(f"{API}/{job['id']}", headers=bob.headers)).status_code == 404
    assert (await client.get(API, headers=bob.headers)).json()["items"] == []
    assert (await client.get(f"{API}/not-an-id", headers=alice.headers)).status_code == 404


async def test_claude_export_keeps_the_branch_and_reports_what_it_skipped(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    job = await imported(client, alice, fixture("claude-export.json"))
    assert job["status"] == "done" and job["format"] == "claude"
    counts = job["counts"]
    assert (counts["conversations_created"], counts["conversations_failed"]) == (2, 1)
    assert counts["messages"] == 6 and counts["branches"] == 1
    by_source = {item["source_id"]: item for item in job["report"]}
    broken = by_source["aaaaaaaa-1111-4222-8333-000000000003"]
    assert broken["outcome"] == "failed" and "chat_messages" in " ".join(broken["problems"])
    old = by_source["aaaaaaaa-1111-4222-8333-000000000002"]
    assert any("skipped" in problem for problem in old["problems"])  # the blank message

    rust = await conversation_by_source(client, alice, "aaaaaaaa-1111-4222-8333-000000000001")
    assert rust["title"] == "Rust lifetimes" and rust["source"]["kind"] == "claude"
    assert rust["created_at"].startswith("2026-02-01T09:00:00")
    messages = await messages_of(client, alice, rust["id"])
    assert tree_of(messages) == [
        (
            "user",
            "Why does this not compil",
            [
                ("assistant", "x does not live long eno", []),
                ("assistant", "Retried answer: move x o", [("user", "That worked, thanks.", [])]),
            ],
        )
    ]
    first_answer = messages[1]
    assert first_answer["reasoning"] == "internal reasoning that must not be imported"
    assert "internal reasoning" not in first_answer["content"]
    assert messages[0]["metadata"]["attachments"][0]["file_name"] == "main.rs"
    assert messages[2]["metadata"]["tool_calls"][0]["name"] == "repl"
    assert rust["current_message_id"] == messages[3]["id"]


async def test_chatgpt_tree_keeps_every_branch_and_the_current_leaf(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    job = await imported(client, alice, fixture("chatgpt-tree.json"))
    assert job["status"] == "done" and job["format"] == "chatgpt"
    assert job["counts"]["conversations_created"] == 1 and job["counts"]["branches"] == 2
    source = json.loads(fixture("chatgpt-tree.json"))[0]
    conversation = await conversation_by_source(client, alice, source["id"])
    messages = await messages_of(client, alice, conversation["id"])
    assert len(messages) == 11
    # The same tree as the export's user and assistant nodes (system root skipped).
    mapping = source["mapping"]

    def expected(node_id: str) -> list:
        out = []
        for child in mapping[node_id]["children"]:
            message = mapping[child]["message"]
            role = message["author"]["role"]
            if role in ("user", "assistant") and "".join(message["content"]["parts"]).strip():
                out.append((role, "".join(message["content"]["parts"])[:24], expected(child)))
            else:
                out.extend(expected(child))
        return out

    root = next(key for key, node in mapping.items() if node["parent"] is None)
    assert tree_of(messages) == expected(root)
    leaf = mapping[source["current_node"]]["message"]
    current = next(m for m in messages if m["id"] == conversation["current_message_id"])
    assert current["content"] == "".join(leaf["content"]["parts"])
    assert {m["status"] for m in messages} == {None, "interrupted"}
    assert any(m["model"] for m in messages if m["role"] == "assistant")


@pytest.mark.parametrize(
    ("name", "kind", "conversations", "messages"),
    [
        ("chatgpt-export.json", "chatgpt", 2, 10),
        ("chatgpt-citations.json", "chatgpt", 1, 1),
        ("librechat-export.json", "librechat", 1, 6),
        ("librechat-tree.json", "librechat", 1, 9),
        ("chatbotui-export.json", "chatbotui", 2, 6),
    ],
)
async def test_every_format_imports_and_reimports_nothing(
    client: httpx.AsyncClient,
    alice: TestUser,
    name: str,
    kind: str,
    conversations: int,
    messages: int,
) -> None:
    job = await imported(client, alice, fixture(name))
    assert job["status"] == "done" and job["format"] == kind, job
    assert job["counts"]["conversations_created"] == conversations
    assert job["counts"]["messages"] == messages
    assert job["progress"]["bytes_read"] == job["progress"]["bytes_total"] == len(fixture(name))
    again = await imported(client, alice, fixture(name))
    assert again["counts"]["conversations_created"] == 0
    assert again["counts"]["conversations_unchanged"] == conversations
    assert again["counts"]["messages"] == 0
    listed = (await client.get(API, headers=alice.headers)).json()["items"]
    assert [j["id"] for j in listed] == [again["id"], job["id"]] and "report" not in listed[0]


async def test_librechat_tree_is_read_back_as_the_same_tree(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    await imported(client, alice, fixture("librechat-tree.json"))
    source = json.loads(fixture("librechat-tree.json"))
    conversation = await conversation_by_source(client, alice, source["conversationId"])

    def expected(nodes: list) -> list:
        return [
            (
                "user" if n["isCreatedByUser"] else "assistant",
                n["text"][:24],
                expected(n.get("children", [])),
            )
            for n in nodes
        ]

    messages = await messages_of(client, alice, conversation["id"])
    assert tree_of(messages) == expected(source["messages"])


async def test_a_later_export_adds_only_the_new_messages(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    export = json.loads(fixture("chatgpt-tree.json"))
    await imported(client, alice, json.dumps(export).encode())
    conversation = export[0]
    before = await conversation_by_source(client, alice, conversation["id"])
    leaf = conversation["current_node"]
    conversation["mapping"]["later-1"] = {
        "id": "later-1",
        "parent": leaf,
        "children": [],
        "message": {
            "id": "later-1",
            "author": {"role": "user"},
            "create_time": 1914585031.0,
            "content": {"content_type": "text", "parts": ["one more question"]},
            "status": "finished_successfully",
            "metadata": {"$where": "sleep(1000)", "a.b": 1},
            "recipient": "all",
        },
    }
    conversation["mapping"][leaf]["children"].append("later-1")
    conversation["current_node"] = "later-1"
    job = await imported(client, alice, json.dumps(export).encode())
    assert job["counts"]["conversations_updated"] == 1 and job["counts"]["messages"] == 1
    card = await conversation_by_source(client, alice, conversation["id"])
    messages = await messages_of(client, alice, card["id"])
    assert len(messages) == 12 and card["message_count"] == 12
    assert messages[-1]["content"] == "one more question"
    assert card["current_message_id"] == messages[-1]["id"]
    assert messages[-1]["parent_id"] == before["current_message_id"]


async def test_racing_imports_of_one_file_create_each_conversation_once(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    data = fixture("chatgpt-export.json")
    responses = await racers.race([lambda http: start(http, alice, data) for _ in range(4)])
    assert [r.status_code for r in responses] == [202] * 4
    jobs = [await finished(client, alice, r.json()["id"]) for r in responses]
    assert [j["status"] for j in jobs] == ["done"] * 4
    assert sum(j["counts"]["conversations_created"] for j in jobs) == 2
    page = (await client.get("/api/v1/conversations", headers=alice.headers)).json()
    assert len(page["items"]) == 2
    for card in page["items"]:
        messages = await messages_of(client, alice, card["id"])
        assert len({m["id"] for m in messages}) == len(messages) == card["message_count"]


@needs_isolation  # the storage counter's guarded $inc
async def test_racing_imports_of_one_zip_store_each_file_once(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    data = chatgpt_zip_with_files()
    responses = await racers.race(
        [lambda http: start(http, alice, data, name="export.zip") for _ in range(4)]
    )
    jobs = [await finished(client, alice, r.json()["id"]) for r in responses]
    assert [j["status"] for j in jobs] == ["done"] * 4, jobs
    assert sum(j["counts"]["conversations_created"] for j in jobs) == 1
    assert sum(j["counts"]["files"] for j in jobs) == 3
    files = (await client.get("/api/v1/files", headers=alice.headers)).json()["items"]
    assert len(files) == 3
    usage = (await client.get("/api/v1/users/me/limits", headers=alice.headers)).json()
    assert usage["storage"]["used_bytes"] == len(PNG) + len(WEBP) + len(b"remember the milk\n")


async def test_a_long_history_rolls_into_the_archive(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    """A 10,000-deep parent chain is walked without recursion and stored like appended
    messages: the newest in the window, the rest in archive buckets."""
    count = 10_000
    messages = [
        {
            "uuid": f"m{i}",
            "parent_message_uuid": f"m{i - 1}" if i else None,
            "sender": "human" if i % 2 == 0 else "assistant",
            "text": f"message {i}",
            "created_at": "2026-01-01T00:00:00Z",
        }
        for i in range(count)
    ]
    export = [{"uuid": "deep", "name": "Deep", "chat_messages": messages}]
    job = await imported(client, alice, json.dumps(export).encode())
    assert job["status"] == "done" and job["counts"]["messages"] == count, job
    card = await conversation_by_source(client, alice, "deep")
    assert card["message_count"] == count
    page = await client.get(
        f"/api/v1/conversations/{card['id']}/messages",
        params={"limit": 3, "before": 9001},
        headers=alice.headers,
    )
    assert page.status_code == 200, page.text
    chain = page.json()["items"]
    assert [m["content"] for m in chain] == [f"message {i}" for i in (8997, 8998, 8999)]
    assert [m["parent_id"] for m in chain[1:]] == [m["id"] for m in chain[:-1]]


async def test_cycles_dangling_parents_and_oversized_messages(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    export = [
        {
            "uuid": "loops",
            "name": "Loops",
            "chat_messages": [
                {
                    "uuid": "a",
                    "parent_message_uuid": "c",
                    "sender": "human",
                    "text": "a",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "tool_use", "name": "q", "input": {"$where": "1", "a.b": 2}},
                    ],
                },
                {"uuid": "b", "parent_message_uuid": "a", "sender": "assistant", "text": "b"},
                {"uuid": "c", "parent_message_uuid": "b", "sender": "human", "text": "c"},
                {"uuid": "d", "parent_message_uuid": "gone", "sender": "assistant", "text": "d"},
            ],
        },
        {
            "uuid": "huge",
            "name": "Huge",
            "chat_messages": [{"uuid": "h", "sender": "human", "text": "x" * (10 * 1024**2)}],
        },
        {"uuid": 7, "name": {"$ne": 1}, "chat_messages": "not a list"},
    ]
    job = await imported(client, alice, json.dumps(export).encode())
    assert job["status"] == "done"
    by_source = {item["source_id"]: item for item in job["report"]}
    loops = by_source["loops"]
    assert loops["outcome"] == "created" and loops["messages_added"] == 4
    assert any("cycle" in p for p in loops["problems"])
    assert any("not in the export" in p for p in loops["problems"])
    huge = by_source["huge"]
    assert huge["outcome"] == "failed" and "bytes" in huge["error"]
    assert by_source["7"]["outcome"] == "failed"
    page = (await client.get("/api/v1/conversations", headers=alice.headers)).json()
    assert [c["title"] for c in page["items"]] == ["Loops"]  # nothing of the failed ones
    stored = await messages_of(client, alice, page["items"][0]["id"])
    tool_input = next(m for m in stored if m["content"] == "a")["metadata"]["tool_calls"][0]
    assert tool_input["input"] == {"_where": "1", "a_b": 2}  # no operator or path as a key


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


async def test_a_split_chatgpt_zip_imports_every_part(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    export = json.loads(fixture("chatgpt-export.json"))
    data = zipped(
        {
            "conversations-001.json": json.dumps(export[1:]).encode(),
            "conversations-000.json": json.dumps(export[:1]).encode(),
            "chat.html": b"<html></html>",
        }
    )
    job = await imported(client, alice, data, name="export.zip")
    assert job["status"] == "done" and job["counts"]["conversations_created"] == 2
    assert [item["source_id"] for item in job["report"]] == [c["id"] for c in export]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"{not json", "JSON"),
        (b'[{"hello": "world"}]', "Looked for"),
        (b'{"some": "object"}', "Looked for"),
        (b"[]", "no conversations"),
        (zipped({"../evil/conversations.json": b"[]"}), "escapes"),
        (zipped({"notes.txt": b"hi"}), "conversations.json"),
        (b"PK\x03\x04 not really a zip", "ZIP"),
    ],
)
async def test_files_that_are_not_exports_are_422_and_write_nothing(
    client: httpx.AsyncClient, alice: TestUser, data: bytes, says: str
) -> None:
    response = await start(client, alice, data)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]
    assert (await client.get(API, headers=alice.headers)).json()["items"] == []


async def test_a_zip_bomb_is_refused(client: httpx.AsyncClient, alice: TestUser) -> None:
    bomb = zipped({"conversations.json": b"[" + b" " * (50 * 1024**2) + b"]"})
    assert len(bomb) < 200 * 1024
    response = await start(client, alice, bomb, name="export.zip")
    assert response.status_code == 422 and "ZIP bomb" in response.json()["detail"]


async def test_unknown_format_field_and_wrong_format_are_422(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    data = fixture("claude-export.json")
    unknown = await start(client, alice, data, format="myspace")
    assert unknown.status_code == 422 and "chatgpt" in unknown.json()["detail"]
    wrong = await start(client, alice, data, format="chatgpt")
    assert wrong.status_code == 422 and "claude" in wrong.json()["detail"]


async def test_dry_run_reports_and_writes_nothing(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    job = await imported(client, alice, fixture("claude-export.json"), dry_run="true")
    assert job["dry_run"] and job["counts"]["conversations_created"] == 2
    page = (await client.get("/api/v1/conversations", headers=alice.headers)).json()
    assert page["items"] == []


async def test_the_command_line_imports_with_a_dry_run_first(
    client: httpx.AsyncClient, alice: TestUser, settings: Settings, tmp_path: Path
) -> None:
    export = tmp_path / "export.json"
    export.write_bytes(fixture("librechat-tree.json"))
    dry = await run_cli(settings, "import-chats", str(export), "--user", alice.email, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import: 1 created" in dry.stderr and "9 messages" in dry.stderr
    page = (await client.get("/api/v1/conversations", headers=alice.headers)).json()
    assert page["items"] == []
    done = await run_cli(settings, "import-chats", str(export), "--user", alice.email)
    assert done.returncode == 0 and "imported: 1 created" in done.stderr, done.stderr
    assert export.exists()  # the user's own file is left alone
    jobs = (await client.get(API, headers=alice.headers)).json()["items"]
    assert [(j["status"], j["dry_run"]) for j in jobs] == [("done", False), ("done", True)]
    refused = await run_cli(settings, "import-chats", str(export), "--user", "nobody@example.com")
    assert refused.returncode == 1 and "No user" in refused.stderr


async def test_a_job_whose_process_stops_is_failed_not_left_running(
    client: httpx.AsyncClient, alice: TestUser, settings: Settings
) -> None:
    """kill -9 the process running an import: the job is failed (not `running`) once its
    heartbeat is stale, its progress had moved, and importing again completes the work."""
    count = 1000
    export = [
        {
            "uuid": f"c{i}",
            "name": f"chat {i}",
            "chat_messages": [{"uuid": "m", "sender": "human", "text": f"hello {i}"}],
        }
        for i in range(count)
    ]
    data = json.dumps(export).encode()
    served = await start_server(settings, IMPORT_STALE_SECONDS=str(settings.import_stale_seconds))
    try:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as remote:
            response = await start(remote, alice, data)
            assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        for _ in range(600):
            job = (await client.get(f"{API}/{job_id}", headers=alice.headers)).json()
            if job["counts"]["conversations_created"] >= 20:
                break
            await asyncio.sleep(0.05)
        assert job["status"] == "running", job
    finally:
        served.process.kill()
        await served.process.wait()
    for _ in range(400):
        job = (await client.get(f"{API}/{job_id}", headers=alice.headers)).json()
        if job["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "failed" and job["error"].startswith("Interrupted"), job
    created = job["counts"]["conversations_created"]
    assert 20 <= created < count and job["progress"]["bytes_read"] > 0
    again = await imported(client, alice, data)
    counts = again["counts"]
    assert counts["conversations_created"] + counts["conversations_unchanged"] == count
    assert counts["conversations_created"] <= count - created


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def test_a_300_mb_export_imports_in_bounded_memory(
    settings: Settings, tmp_path: Path
) -> None:
    """Streamed end to end: the upload goes to disk, the export is parsed a conversation at a
    time. Measured on the serving process: its peak RSS grows by less than 150 MB. (Served on a
    database of its own, dropped after: 300 MB of conversations would slow every later test of
    this worker on an engine that scans.)"""
    path = tmp_path / "big.json"
    conversations = 300
    text = "x" * 1_000_000
    with path.open("w") as out:
        out.write("[")
        for i in range(conversations):
            chat = {
                "uuid": f"big-{i}",
                "name": f"big {i}",
                "chat_messages": [{"uuid": "m", "sender": "human", "text": text}],
            }
            out.write(("," if i else "") + json.dumps(chat))
        out.write("]")
    assert path.stat().st_size > 300_000_000
    database = f"{settings.mongodb_db}_big"
    stale = str(settings.import_stale_seconds)
    try:
        async with served_app(settings, MONGODB_DB=database, IMPORT_STALE_SECONDS=stale) as served:
            pid = served.process.pid
            async with httpx.AsyncClient(base_url=served.base_url, timeout=300) as remote:
                user = await register_user(remote, name="Big")
                before = _rss_kib(pid, "VmRSS")
                with path.open("rb") as upload:
                    response = await remote.post(
                        API, files={"file": ("big.json", upload)}, headers=user.headers
                    )
                assert response.status_code == 202, response.text
                seen_progress = set()
                for _ in range(6000):
                    job = (
                        await remote.get(f"{API}/{response.json()['id']}", headers=user.headers)
                    ).json()
                    seen_progress.add(job["progress"]["bytes_read"])
                    if job["status"] in ("done", "failed"):
                        break
                    await asyncio.sleep(0.1)
                peak = _rss_kib(pid, "VmHWM")
    finally:
        client = AsyncMongoClient(settings.mongodb_url)
        await client.drop_database(database)
        await client.close()
    assert job["status"] == "done", job["error"]
    assert job["counts"]["conversations_created"] == conversations
    assert len(seen_progress) > 2  # the progress moved while the job ran
    assert (peak - before) * 1024 < 150 * 1024**2, f"RSS grew {(peak - before) // 1024} MiB"


async def test_open_webui_export_keeps_its_tree_and_current_message(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    """Open WebUI (generated: no public fixture): `history.messages` with `parentId` and
    `childrenIds` (their order is the siblings'), `currentId` the leaf the chat is on."""

    def node(key: str, parent: str | None, children: list[str], role: str, text: str) -> dict:
        return {
            "id": key, "parentId": parent, "childrenIds": children, "role": role,
            "content": text, "timestamp": 1_760_000_000 + len(key), "model": "llama3",
        }  # fmt: skip

    messages = {
        "q": node("q", None, ["a2", "a1"], "user", "question"),
        "a1": node("a1", "q", [], "assistant", "first answer"),
        "a2": node("a2", "q", ["f"], "assistant", "second answer"),
        "f": node("f", "a2", [], "user", "follow-up"),
    }
    export = [
        {
            "id": "owui-1",
            "title": "From Open WebUI",
            "created_at": 1_760_000_000,
            "chat": {"history": {"messages": messages, "currentId": "a1"}},
        }
    ]
    job = await imported(client, alice, json.dumps(export).encode())
    assert job["format"] == "openwebui" and job["counts"]["branches"] == 1
    card = await conversation_by_source(client, alice, "owui-1")
    read = await messages_of(client, alice, card["id"])
    assert tree_of(read) == [
        (
            "user",
            "question",
            [
                ("assistant", "second answer", [("user", "follow-up", [])]),
                ("assistant", "first answer", []),
            ],
        )
    ]
    current = next(m for m in read if m["id"] == card["current_message_id"])
    assert current["content"] == "first answer" and current["model"] == "llama3"


async def test_a_genstore_account_export_round_trips(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    """Alice's export, imported by Bob: the same tree, archived messages included (120
    messages: most of them rolled out of the window), and a second import adds nothing."""
    conversation = (
        await client.post("/api/v1/conversations", json={"title": "mine"}, headers=alice.headers)
    ).json()
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    ids: list[str] = []
    for i in range(120):
        body = {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
        if ids:  # a chain, and turn 119 a second answer to turn 117: a branch
            body["parent_id"] = ids[117] if i == 119 else ids[-1]
        response = await client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    original = await messages_of(client, alice, conversation["id"])
    exported = await client.get("/api/v1/users/me/export", headers=alice.headers)
    assert exported.status_code == 200

    job = await imported(client, bob, exported.content, name="genstore-export.zip")
    assert job["format"] == "genstore" and job["counts"]["messages"] == 120, job
    card = await conversation_by_source(client, bob, conversation["id"])
    assert card["title"] == "mine" and card["message_count"] == 120
    copied = await messages_of(client, bob, card["id"])
    assert tree_of(copied) == tree_of(original)
    assert [m["created_at"] for m in copied] == [m["created_at"] for m in original]
    again = await imported(client, bob, exported.content, name="genstore-export.zip")
    assert again["counts"]["conversations_unchanged"] == 1 and again["counts"]["messages"] == 0


async def test_an_export_over_max_import_bytes_is_413(alice: TestUser, settings: Settings) -> None:
    async with served_app(settings, MAX_IMPORT_BYTES="100000") as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as remote:
            response = await start(remote, alice, b"[" + b" " * 400_000 + b"]")
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert (await remote.get(API, headers=alice.headers)).json()["items"] == []


async def test_a_flat_librechat_export_imports(client: httpx.AsyncClient, alice: TestUser) -> None:
    export = {
        "conversationId": "flat-1",
        "title": "Flat",
        "recursive": False,
        "messages": [
            {"messageId": "u1", "parentMessageId": "00000000-0000-0000-0000-000000000000",
             "isCreatedByUser": True, "text": "hi", "createdAt": "2024-05-01T10:00:00Z"},
            {"messageId": "b1", "parentMessageId": "u1", "isCreatedByUser": False,
             "text": "hello", "model": "gpt-4o", "createdAt": "2024-05-01T10:00:01Z",
             "content": [{"type": "think", "think": "they greet"},
                         {"type": "text", "text": "hello"}]},
            {"messageId": "b2", "parentMessageId": "u1", "isCreatedByUser": False,
             "text": "hey", "unfinished": True, "createdAt": "2024-05-01T10:00:02Z"},
        ],
    }  # fmt: skip
    job = await imported(client, alice, json.dumps(export).encode())
    assert job["format"] == "librechat" and job["counts"]["branches"] == 1
    card = await conversation_by_source(client, alice, "flat-1")
    read = await messages_of(client, alice, card["id"])
    assert tree_of(read) == [("user", "hi", [("assistant", "hello", []), ("assistant", "hey", [])])]
    assert read[1]["reasoning"] == "they greet" and read[1]["model"] == "gpt-4o"
    assert read[2]["status"] == "unfinished"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200 + b"photo"
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x01" * 300


def chatgpt_with_files(conversation_id: str = "conv-files") -> list[dict[str, Any]]:
    """A ChatGPT conversation whose messages point at files: an uploaded photo, a generated
    image, an attached document, and one whose bytes the export lacks."""

    def node(key: str, parent: str | None, role: str, content: dict, **metadata) -> dict:
        return {
            "id": key,
            "parent": parent,
            "children": [],
            "message": {
                "id": key,
                "author": {"role": role},
                "create_time": 1_700_000_000 + len(key),
                "content": content,
                "status": "finished_successfully",
                "metadata": metadata,
            },
        }

    nodes = [
        node(
            "u1",
            None,
            "user",
            {
                "content_type": "multimodal_text",
                "parts": [
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": "file-service://file-AbC123",
                    },
                    "What is in this photo?",
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": "file-service://file-Gone",
                    },
                ],
            },
            attachments=[{"id": "file-Doc9", "name": "notes.txt", "mime_type": "text/plain"}],
        ),
        node(
            "a1",
            "u1",
            "assistant",
            {
                "content_type": "multimodal_text",
                "parts": [{"asset_pointer": "sediment://file_0000aa"}, "A cat, drawn again."],
            },
        ),
    ]
    nodes[0]["children"] = ["a1"]
    return [
        {
            "id": conversation_id,
            "title": "Photos",
            "create_time": 1_700_000_000,
            "mapping": {n["id"]: n for n in nodes},
            "current_node": "a1",
        }
    ]


def chatgpt_zip_with_files(conversation_id: str = "conv-files") -> bytes:
    return zipped(
        {
            "conversations.json": json.dumps(chatgpt_with_files(conversation_id)).encode(),
            "file-AbC123-photo.png": PNG,
            "dalle-generations/file_0000aa-5f1d.webp": WEBP,
            "file-Doc9-notes.txt": b"remember the milk\n",
            "chat.html": b"<html></html>",
        }
    )


async def test_a_chatgpt_zip_s_files_become_the_owner_s_files(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    job = await imported(client, alice, chatgpt_zip_with_files(), name="export.zip")
    assert job["status"] == "done", job
    assert job["counts"]["files"] == 3 and job["report"][0]["files"] == 3
    conversation = await conversation_by_source(client, alice, "conv-files")
    question, answer = await messages_of(client, alice, conversation["id"])
    assert question["metadata"]["files"] == ["file-AbC123", "file-Gone", "notes.txt"]
    assert len(question["file_ids"]) == 2 and len(answer["file_ids"]) == 1  # none for file-Gone

    read = {}
    for file_id in question["file_ids"] + answer["file_ids"]:
        handle = (await client.get(f"/api/v1/files/{file_id}", headers=alice.headers)).json()
        content = await client.get(f"/api/v1/files/{file_id}/content", headers=alice.headers)
        read[handle["filename"]] = (handle["content_type"], content.content)
        assert handle["links"]["conversation_id"] == conversation["id"]
        other = await client.get(f"/api/v1/files/{file_id}", headers=bob.headers)
        assert other.status_code == 404
    assert read == {
        "file-AbC123-photo.png": ("image/png", PNG),
        "notes.txt": ("text/plain", b"remember the milk\n"),
        "file_0000aa-5f1d.webp": ("image/webp", WEBP),
    }
    usage = (await client.get("/api/v1/users/me/limits", headers=alice.headers)).json()
    assert usage["storage"]["used_bytes"] == len(PNG) + len(WEBP) + len(b"remember the milk\n")

    again = await imported(client, alice, chatgpt_zip_with_files(), name="export.zip")
    assert again["counts"]["conversations_unchanged"] == 1 and again["counts"]["files"] == 0
    files = (await client.get("/api/v1/files", headers=alice.headers)).json()["items"]
    assert len(files) == 3


async def test_files_over_the_storage_limit_fail_their_conversation_whole(
    client: httpx.AsyncClient, admin: TestUser, settings: Settings
) -> None:
    from tests.test_budgets import set_limit

    user = await register_user(client, name="Small")
    await set_limit(client, admin, user, None, storage=len(PNG) + 10)
    data = zipped(
        {
            "conversations.json": json.dumps(
                chatgpt_with_files("too-big") + json.loads(fixture("chatgpt-export.json"))
            ).encode(),
            "file-AbC123-photo.png": PNG,
            "dalle-generations/file_0000aa-5f1d.webp": WEBP,
            "file-Doc9-notes.txt": b"remember the milk\n",
        }
    )
    job = await imported(client, user, data, name="export.zip")
    assert job["status"] == "done"
    failed = job["report"][0]
    assert failed["outcome"] == "failed" and "storage limit" in failed["error"], failed
    assert job["counts"]["conversations_failed"] == 1 and job["counts"]["files"] == 0
    assert job["counts"]["conversations_created"] == 2  # the others are written
    assert (await client.get("/api/v1/files", headers=user.headers)).json()["items"] == []
    page = (await client.get("/api/v1/conversations", headers=user.headers)).json()
    assert "too-big" not in [(c.get("source") or {}).get("id") for c in page["items"]]
    usage = (await client.get("/api/v1/users/me/limits", headers=user.headers)).json()
    assert usage["storage"]["used_bytes"] == 0
    check = await run_cli(settings, "quota", "check", "--owner", user.email)
    assert check.returncode == 0 and "drift: 0" in check.stderr, check.stderr


async def test_a_file_member_that_is_a_zip_bomb_fails_its_conversation(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    data = zipped(
        {
            "conversations.json": json.dumps(chatgpt_with_files("bomb")).encode(),
            "file-AbC123-photo.png": b"\x89PNG" + b"\x00" * (4 * 1024**2),
            "file-Doc9-notes.txt": b"remember the milk\n",
        }
    )
    job = await imported(client, alice, data, name="export.zip")
    item = job["report"][0]
    assert item["outcome"] == "failed" and "ZIP bomb" in item["error"], item
    assert (await client.get("/api/v1/files", headers=alice.headers)).json()["items"] == []
    assert (await client.get("/api/v1/conversations", headers=alice.headers)).json()["items"] == []


async def test_a_file_over_the_upload_limit_is_reported_not_imported(
    client: httpx.AsyncClient, alice: TestUser, settings: Settings
) -> None:
    big = b"\x89PNG" + os.urandom(settings.max_upload_bytes)
    data = zipped(
        {
            "conversations.json": json.dumps(chatgpt_with_files("big")).encode(),
            "file-AbC123-photo.png": big,
        },
        zipfile.ZIP_STORED,
    )
    job = await imported(client, alice, data, name="export.zip")
    item = job["report"][0]
    assert item["outcome"] == "created" and item["files"] == 0, item
    assert any("file-AbC123-photo.png" in p and "not imported" in p for p in item["problems"])
    assert (await client.get("/api/v1/files", headers=alice.headers)).json()["items"] == []

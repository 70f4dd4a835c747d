"""Conversations over HTTP: atomic seq, window roll-over into archives, paging, search,
branches, forks, bulk actions, expiry, and what each request costs in database commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI

from app.conversations import window
from app.database import get_db
from app.observability import command_recorder
from bench.seeding import seed_long_conversation
from documents.conversation import (
    WINDOW_KEEP_MESSAGES,
    WINDOW_MAX_MESSAGES,
    Conversation,
    ConversationArchive,
    bucket_of,
)
from tests.factories import TestUser
from tests.racing import Racers, needs_isolation

PERMANENT = {"permanent": "true"}  # past the trash: what a purge frees

API = "/api/v1/conversations"


async def new_conversation(client: httpx.AsyncClient, user: TestUser, **body) -> dict:
    response = await client.post(API, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def append(
    client: httpx.AsyncClient, user: TestUser, conversation_id: str, content: str, **extra
) -> httpx.Response:
    return await client.post(
        f"{API}/{conversation_id}/messages",
        json={"role": extra.pop("role", "user"), "content": content, **extra},
        headers=user.headers,
    )


async def all_messages(client: httpx.AsyncClient, user: TestUser, conversation_id: str) -> list:
    """Every message, paging back with `cursor` from the newest page."""
    pages: list[list[dict]] = []
    cursor = None
    while True:
        params = {"limit": 100} if cursor is None else {"limit": 100, "cursor": cursor}
        page = await client.get(
            f"{API}/{conversation_id}/messages", params=params, headers=user.headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    return [message for page in reversed(pages) for message in page]


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", API),
        ("POST", API),
        ("GET", f"{API}/{ObjectId()}"),
        ("POST", f"{API}/{ObjectId()}/messages"),
        ("POST", f"{API}/bulk"),
    ]:
        response = await client.request(method, path, json={})
        assert response.status_code == 401, path


async def test_create_get_and_update(client: httpx.AsyncClient, alice: TestUser) -> None:
    created = await new_conversation(
        client, alice, context={"goal": "landing page"}, metadata={"source": "web"}
    )
    assert created["title"] is None and created["message_count"] == 0
    assert created["last_message_at"] is None and created["archived"] is False
    fetched = await client.get(f"{API}/{created['id']}", headers=alice.headers)
    assert fetched.json() == created
    patched = await client.patch(
        f"{API}/{created['id']}",
        json={"title": "Bakery site", "archived": True},
        headers=alice.headers,
    )
    assert patched.json()["title"] == "Bakery site" and patched.json()["archived"] is True
    assert "messages" not in patched.json()


async def test_append_assigns_seq_and_titles_from_the_first_user_message(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice)
    system = await append(client, alice, conversation["id"], "You are helpful.", role="system")
    long_text = "Build me a landing page for a small bakery that sells sourdough bread and cakes"
    first = await append(
        client,
        alice,
        conversation["id"],
        long_text,
        model="gpt-x",
        usage={"prompt_tokens": 12, "completion_tokens": 30},
    )
    second = await append(client, alice, conversation["id"], "and a contact form")
    assert [system.status_code, first.status_code, second.status_code] == [201, 201, 201]
    assert [system.json()["seq"], first.json()["seq"], second.json()["seq"]] == [1, 2, 3]
    message = first.json()
    assert message["usage"] == {
        "provider": None,
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "total_tokens": 42,
        "cost_micros": None,
        "cost_usd": None,
    }
    assert message["model"] == "gpt-x" and message["type"] == "text"
    assert message["created_at"].endswith("Z") and message["edited_at"] is None
    fetched = (await client.get(f"{API}/{conversation['id']}", headers=alice.headers)).json()
    assert fetched["message_count"] == 3
    title = fetched["title"]
    assert title.startswith("Build me a landing page") and len(title) <= 62
    assert long_text.startswith(title.rstrip("…")) and title.endswith("…")
    assert not title.rstrip("…").endswith(" ")


@needs_isolation
async def test_concurrent_appends_get_gapless_unique_seq(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
) -> None:
    """50 appends to one conversation at once over separate connections: the `$inc` of one
    findAndModify numbers them, which needs an engine that isolates updates of one document."""
    conversation = await new_conversation(client, alice, title="busy")
    responses = await racers.race(
        [
            lambda http, i=i: append(http, alice, conversation["id"], f"message {i}")
            for i in range(50)
        ]
    )
    assert {r.status_code for r in responses} == {201}
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 51))
    stored = await all_messages(client, alice, conversation["id"])
    assert [m["seq"] for m in stored] == list(range(1, 51))
    by_id = {r.json()["id"]: r.json()["seq"] for r in responses}
    assert {m["id"]: m["seq"] for m in stored} == by_id


@pytest.mark.parametrize(
    "body",
    [
        {"role": "robot", "content": "x"},
        {"role": "user", "content": "x", "type": "video"},
        {"role": "user", "content": {"$ne": None}},
        {"role": "user", "content": ["x"]},
        {"role": "user", "content": ""},
        {"role": "user", "content": "x" * (1024 * 1024 + 1)},
        {"role": "user", "content": "x", "usage": {"prompt_tokens": -1, "completion_tokens": 0}},
        {"role": "user", "content": "x", "parent_id": {"$gt": ""}},
        {"role": "user", "content": "x", "seq": 7},
    ],
)
async def test_bad_messages_are_refused_and_change_nothing(
    client: httpx.AsyncClient, alice: TestUser, body: dict
) -> None:
    conversation = await new_conversation(client, alice)
    response = await client.post(
        f"{API}/{conversation['id']}/messages", json=body, headers=alice.headers
    )
    assert response.status_code in (413, 422)
    assert response.headers["content-type"] == "application/problem+json"
    after = (await client.get(f"{API}/{conversation['id']}", headers=alice.headers)).json()
    assert after["message_count"] == 0


async def test_bad_conversation_bodies_and_queries(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    for body in (
        {"title": {"$set": 1}},
        {"context": {"$where": "1"}},
        {"metadata": {"a.b": 1}},
        {"context": "not an object"},
        {"project_id": "123"},
        {"project_id": str(ObjectId())},
        {"site_id": str(ObjectId())},
        {"unknown": 1},
    ):
        response = await client.post(API, json=body, headers=alice.headers)
        assert response.status_code == 422, body
    for params in ({"limit": 101}, {"limit": 0}, {"cursor": "garbage"}, {"project_id": "x"}):
        response = await client.get(API, params=params, headers=alice.headers)
        assert response.status_code == 422, params
    missing = await client.get(f"{API}/not-an-id", headers=alice.headers)
    assert missing.status_code == 404


async def test_list_is_newest_activity_first_and_pages_with_cursors(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    from tests.factories import register_user

    user = await register_user(client, name="Lister")
    ids = [(await new_conversation(client, user, title=f"c{i}"))["id"] for i in range(5)]
    await append(client, user, ids[1], "bump")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(API, params=params, headers=user.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [ids[1], ids[4], ids[3], ids[2], ids[0]]


async def test_search_matches_title_and_text_literally(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    plain = await new_conversation(client, alice, title="Pricing page")
    await append(client, alice, plain["id"], "Use the colour Teal-Blue (#0af) please")
    other = await new_conversation(client, alice, title="abc")
    for q, expected in [
        ("pricing", {plain["id"]}),
        ("teal-blue (#0AF)", {plain["id"]}),
        ("a.c", set()),
        (".*", set()),
    ]:
        page = (await client.get(API, params={"q": q}, headers=alice.headers)).json()
        found = {item["id"] for item in page["items"]} & {plain["id"], other["id"]}
        assert found == expected, q


async def test_parent_must_be_in_the_same_conversation_and_branch_follows_it(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice)
    other = await new_conversation(client, alice)
    foreign = (await append(client, alice, other["id"], "elsewhere")).json()
    refused = await append(client, alice, conversation["id"], "x", parent_id=foreign["id"])
    assert refused.status_code == 422
    root = (await append(client, alice, conversation["id"], "root")).json()
    answer = (
        await append(
            client, alice, conversation["id"], "v1", role="assistant", parent_id=root["id"]
        )
    ).json()
    regenerated = (
        await append(
            client, alice, conversation["id"], "v2", role="assistant", parent_id=root["id"]
        )
    ).json()
    follow_up = (
        await append(client, alice, conversation["id"], "more", parent_id=regenerated["id"])
    ).json()
    branch = await client.get(
        f"{API}/{conversation['id']}/branch/{follow_up['id']}", headers=alice.headers
    )
    assert [m["content"] for m in branch.json()["items"]] == ["root", "v2", "more"]
    first_branch = await client.get(
        f"{API}/{conversation['id']}/branch/{answer['id']}", headers=alice.headers
    )
    assert [m["content"] for m in first_branch.json()["items"]] == ["root", "v1"]
    assert (
        await client.get(f"{API}/{conversation['id']}/branch/{ObjectId()}", headers=alice.headers)
    ).status_code == 404

    fork = await client.post(
        f"{API}/{conversation['id']}/fork",
        json={"message_id": follow_up["id"]},
        headers=alice.headers,
    )
    assert fork.status_code == 201
    forked = fork.json()
    assert forked["forked_from"] == {
        "conversation_id": conversation["id"],
        "message_id": follow_up["id"],
    }
    assert forked["message_count"] == 3
    copied = await all_messages(client, alice, forked["id"])
    assert [m["content"] for m in copied] == ["root", "v2", "more"]
    assert [m["seq"] for m in copied] == [1, 2, 3]
    assert {m["id"] for m in copied}.isdisjoint({root["id"], regenerated["id"], follow_up["id"]})
    assert copied[0]["parent_id"] is None
    assert copied[1]["parent_id"] == copied[0]["id"] and copied[2]["parent_id"] == copied[1]["id"]


async def test_edit_sets_edited_at(client: httpx.AsyncClient, alice: TestUser) -> None:
    conversation = await new_conversation(client, alice)
    message = (await append(client, alice, conversation["id"], "typo hre")).json()
    edited = await client.patch(
        f"{API}/{conversation['id']}/messages/{message['id']}",
        json={"content": "typo here"},
        headers=alice.headers,
    )
    assert edited.status_code == 200
    assert edited.json()["content"] == "typo here" and edited.json()["edited_at"]
    assert edited.json()["seq"] == 1
    stored = await all_messages(client, alice, conversation["id"])
    assert stored[0]["content"] == "typo here"
    unknown = await client.patch(
        f"{API}/{conversation['id']}/messages/{ObjectId()}",
        json={"content": "x"},
        headers=alice.headers,
    )
    assert unknown.status_code == 404


async def test_expired_conversation_refuses_appends_with_410(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    conversation = await new_conversation(client, alice, expires_at=past)
    response = await append(client, alice, conversation["id"], "too late")
    assert response.status_code == 410
    assert response.json()["status"] == 410


async def test_bulk_ignores_ids_the_caller_does_not_own(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
) -> None:
    mine = [(await new_conversation(client, alice))["id"] for _ in range(2)]
    theirs = (await new_conversation(client, bob, title="bob's"))["id"]
    archived = await client.post(
        f"{API}/bulk", json={"ids": [*mine, theirs], "action": "archive"}, headers=alice.headers
    )
    assert archived.json() == {"done": 2}
    bobs = (await client.get(f"{API}/{theirs}", headers=bob.headers)).json()
    assert bobs["archived"] is False
    listed = (await client.get(API, params={"archived": "true"}, headers=alice.headers)).json()
    assert set(mine) <= {item["id"] for item in listed["items"]}
    deleted = await client.post(
        f"{API}/bulk", json={"ids": [*mine, theirs], "action": "delete"}, headers=alice.headers
    )
    assert deleted.json() == {"done": 2}
    assert (await client.get(f"{API}/{theirs}", headers=bob.headers)).status_code == 200
    bad = await client.post(
        f"{API}/bulk", json={"ids": [{"$ne": 1}], "action": "delete"}, headers=alice.headers
    )
    assert bad.status_code == 422


async def _window_state(conversation_id: str) -> dict:
    raw = await Conversation.get_pymongo_collection().find_one({"_id": ObjectId(conversation_id)})
    assert raw is not None
    return raw


async def test_long_conversations_roll_into_archives_and_page_exactly_once(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice, title="long")
    total = WINDOW_MAX_MESSAGES * 2 + 37
    for i in range(total):
        response = await append(client, alice, conversation["id"], f"line {i + 1}")
        assert response.json()["seq"] == i + 1
    raw = await _window_state(conversation["id"])
    assert len(raw["messages"]) <= WINDOW_MAX_MESSAGES
    assert raw["archived_count"] + len(raw["messages"]) == total
    assert (
        await ConversationArchive.get_pymongo_collection().count_documents(
            {"conversation_id": raw["_id"]}
        )
        == bucket_of(raw["archived_count"]) + 1
    )
    stored = await all_messages(client, alice, conversation["id"])
    assert [m["seq"] for m in stored] == list(range(1, total + 1))
    assert [m["content"] for m in stored] == [f"line {i + 1}" for i in range(total)]
    # Editing an archived message updates its bucket.
    edited = await client.patch(
        f"{API}/{conversation['id']}/messages/{stored[2]['id']}",
        json={"content": "rewritten"},
        headers=alice.headers,
    )
    assert edited.status_code == 200 and edited.json()["seq"] == 3
    again = await all_messages(client, alice, conversation["id"])
    assert again[2]["content"] == "rewritten"
    # Search reaches archived text.
    found = (await client.get(API, params={"q": "rewritten"}, headers=alice.headers)).json()
    assert conversation["id"] in {item["id"] for item in found["items"]}
    # A branch whose root is archived.
    tail = (
        await append(client, alice, conversation["id"], "tail", parent_id=stored[0]["id"])
    ).json()
    branch = await client.get(
        f"{API}/{conversation['id']}/branch/{tail['id']}", headers=alice.headers
    )
    assert [m["seq"] for m in branch.json()["items"]] == [1, total + 1]


async def test_a_roll_interrupted_after_the_copy_loses_nothing_and_shows_nothing_twice(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice, title="crash")
    total = WINDOW_KEEP_MESSAGES + 10  # under the roll trigger; a roll would move 10
    for i in range(total):
        await append(client, alice, conversation["id"], f"m{i + 1}")
    raw = await _window_state(conversation["id"])
    owner = raw["owner_id"]
    # Step 1 alone, as if the process died before the $pull.
    first_ten = [{**m, "seq": i + 1} for i, m in enumerate(raw["messages"][:10])]
    await window.copy_to_archive(owner, raw["_id"], 0, first_ten)
    midway = await all_messages(client, alice, conversation["id"])
    assert [m["seq"] for m in midway] == list(range(1, total + 1))
    # Step 1 again (a retry) adds nothing twice.
    await window.copy_to_archive(owner, raw["_id"], 0, first_ten)
    bucket = await ConversationArchive.get_pymongo_collection().find_one(
        {"conversation_id": raw["_id"], "bucket": 0}
    )
    assert len(bucket["messages"]) == 10
    # The next roll completes the job.
    roll = await window.roll_window(owner, raw["_id"])
    assert roll.outcome is window.RollOutcome.ROLLED and roll.moved == 10
    after = await all_messages(client, alice, conversation["id"])
    assert [m["content"] for m in after] == [f"m{i + 1}" for i in range(total)]
    state = await _window_state(conversation["id"])
    assert state["archived_count"] == 10 and state["rolling_until"] is None
    assert len(state["messages"]) == WINDOW_KEEP_MESSAGES
    bucket = await ConversationArchive.get_pymongo_collection().find_one(
        {"conversation_id": raw["_id"], "bucket": 0}
    )
    assert [m["seq"] for m in bucket["messages"]] == list(range(1, 11))
    next_append = await append(client, alice, conversation["id"], "after the crash")
    assert next_append.json()["seq"] == total + 1


async def test_delete_removes_the_conversation_and_its_archives(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice)
    for i in range(WINDOW_MAX_MESSAGES + 1):
        await append(client, alice, conversation["id"], f"x{i}")
    archives = ConversationArchive.get_pymongo_collection()
    oid = ObjectId(conversation["id"])
    assert await archives.count_documents({"conversation_id": oid}) > 0
    deleted = await client.delete(f"{API}/{conversation['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    kept = await archives.count_documents({"conversation_id": oid})
    assert kept > 0  # in the trash: kept whole
    assert (
        await client.get(f"{API}/{conversation['id']}", headers=alice.headers)
    ).status_code == 404
    assert (
        await client.delete(f"{API}/{conversation['id']}", headers=alice.headers)
    ).status_code == 404
    purged = await client.delete(f"/api/v1/trash/{conversation['id']}", headers=alice.headers)
    assert purged.status_code == 204
    assert await archives.count_documents({"conversation_id": oid}) == 0


async def test_append_costs_two_commands_at_message_20_and_at_20000(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    """Bearer auth (one read of the user) plus one findAndModify; independent of length."""
    short = await new_conversation(client, alice, title="short")
    for i in range(19):
        await append(client, alice, short["id"], f"s{i}")
    long = await seed_long_conversation(
        get_db(), ObjectId(alice.id), 19_999, window_size=60, title="very long"
    )
    costs = []
    for conversation_id in (short["id"], long):
        with command_recorder.capture() as commands:
            response = await append(client, alice, conversation_id, "one more")
        assert response.status_code == 201
        costs.append(commands)
    assert costs[0] == costs[1] == ["find", "findAndModify"]
    assert (await _window_state(long))["message_count"] == 20_000
    with command_recorder.capture() as commands:
        page = await client.get(f"{API}/{long}/messages", headers=alice.headers)
    assert page.json()["items"][-1]["seq"] == 20_000
    assert commands == ["find", "find"]
    with command_recorder.capture() as commands:
        await client.get(API, headers=alice.headers)
    assert commands == ["find", "find"]
    # FerretDB scans collections: keep the next tests' scans small.
    assert (
        await client.delete(f"{API}/{long}", params=PERMANENT, headers=alice.headers)
    ).status_code == 204


async def test_two_thousand_messages_page_exactly_once_and_stay_small(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    """200 archive buckets behind a window: every message once, in order, the document small.
    (`make bench` appends 20,000 for the flatness of the append's cost.)"""
    conversation_id = await seed_long_conversation(
        get_db(), ObjectId(alice.id), 2_000, window_size=60, title="very long"
    )
    response = await append(client, alice, conversation_id, "the 2,001st")
    assert response.json()["seq"] == 2_001
    stored = await all_messages(client, alice, conversation_id)
    assert [m["seq"] for m in stored] == list(range(1, 2_002))
    assert len({m["id"] for m in stored}) == 2_001
    import bson

    raw = await _window_state(conversation_id)
    assert len(bson.encode(raw)) < 4 * 1024 * 1024


async def test_a_message_usage_reaches_the_ledger_with_its_provider_and_cost(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice)
    usage = {
        "provider": "anthropic",
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "cost_usd": "0.125",
    }
    response = await append(
        client, alice, conversation["id"], "priced", role="assistant", model="m", usage=usage
    )
    assert response.status_code == 201, response.text
    assert response.json()["usage"]["provider"] == "anthropic"
    assert response.json()["usage"]["cost_usd"] == 0.125
    events = (await client.get("/api/v1/usage", headers=alice.headers)).json()["items"]
    [event] = [e for e in events if e["conversation_id"] == conversation["id"]]
    assert (event["source"], event["provider"], event["model"]) == ("message", "anthropic", "m")
    assert (event["cost_micros"], event["total_tokens"]) == (125_000, 10)
    bad = await append(client, alice, conversation["id"], "x", usage={**usage, "cost_usd": -1})
    assert bad.status_code == 422


async def test_search_finds_messages_in_the_whole_history_newest_first(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    """Window (seqs 241-300) and archive buckets (1-240) alike, literal and case-insensitive,
    newest first, page by page."""
    conversation_id = await seed_long_conversation(
        get_db(), ObjectId(alice.id), 300, window_size=60, title="searchable"
    )
    seen: list[int] = []
    cursor = None
    while True:
        params = {"q": "MESSAGE 25", "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = await client.get(
            f"{API}/{conversation_id}/messages", params=params, headers=alice.headers
        )
        assert page.status_code == 200, page.text
        seen += [m["seq"] for m in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [*range(259, 249, -1), 25]
    literal = await client.get(
        f"{API}/{conversation_id}/messages", params={"q": "2."}, headers=alice.headers
    )
    assert literal.json()["items"] == []
    assert (
        await client.delete(f"{API}/{conversation_id}", headers=alice.headers)
    ).status_code == 204


async def test_before_still_pages_by_seq_but_not_with_a_cursor(
    client: httpx.AsyncClient, alice: TestUser
) -> None:
    conversation = await new_conversation(client, alice)
    for i in range(6):
        await append(client, alice, conversation["id"], f"m{i}")
    url = f"{API}/{conversation['id']}/messages"
    older = await client.get(url, params={"before": 5, "limit": 2}, headers=alice.headers)
    assert [m["seq"] for m in older.json()["items"]] == [3, 4]
    first = (await client.get(url, params={"limit": 2}, headers=alice.headers)).json()
    assert [m["seq"] for m in first["items"]] == [5, 6]
    # A client written when `next_cursor` was documented as the seq for `before` still pages.
    old_way = await client.get(
        url, params={"before": first["next_cursor"], "limit": 2}, headers=alice.headers
    )
    new_way = await client.get(
        url, params={"cursor": first["next_cursor"], "limit": 2}, headers=alice.headers
    )
    assert old_way.json() == new_way.json() == older.json()
    both = await client.get(
        url, params={"before": 5, "cursor": first["next_cursor"]}, headers=alice.headers
    )
    assert both.status_code == 422
    forged = await client.get(url, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=alice.headers)
    assert forged.status_code == 422

"""Folders, tags and pins: a tree of at most 8 levels without cycles that files conversations,
sites and files together; exact counts (also after racing moves, renames and deletes); nothing
lost when a folder goes; smart folders; pinned items first in every list."""

from __future__ import annotations

import random

import httpx

from tests.factories import TestUser
from tests.racing import Racers

API = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


async def _folder(
    client: httpx.AsyncClient, user: TestUser, name: str, parent_id: str | None = None, **extra
) -> dict:
    made = await client.post(
        f"{API}/folders", json={"name": name, "parent_id": parent_id, **extra}, headers=user.headers
    )
    assert made.status_code == 201, made.text
    return made.json()


async def _items(client: httpx.AsyncClient, user: TestUser, title: str = "item") -> dict[str, str]:
    """One conversation, one site and one file; their ids by kind."""
    conversation = await client.post(
        f"{API}/conversations", json={"title": title}, headers=user.headers
    )
    site = await client.post(
        f"{API}/sites",
        json={"title": title, "files": [{"path": "index.html", "content": "<p/>"}]},
        headers=user.headers,
    )
    uploaded = await client.post(
        f"{API}/files", files={"file": (f"{title}.png", PNG, "image/png")}, headers=user.headers
    )
    return {
        "conversations": conversation.json()["id"],
        "sites": site.json()["id"],
        "files": uploaded.json()["id"],
    }


async def _place(client: httpx.AsyncClient, user: TestUser, kind: str, item_id: str, **body):
    placed = await client.patch(f"{API}/{kind}/{item_id}", json=body, headers=user.headers)
    assert placed.status_code == 200, placed.text
    return placed.json()


async def _tree(client: httpx.AsyncClient, user: TestUser) -> dict[str, dict]:
    listed = await client.get(f"{API}/folders", headers=user.headers)
    assert listed.status_code == 200
    return {f["id"]: f for f in listed.json()["items"]}


async def test_one_folder_holds_every_kind_with_exact_counts(
    client: httpx.AsyncClient, alice: TestUser
):
    work = await _folder(client, alice, "Work")
    items = await _items(client, alice)
    for kind, item_id in items.items():
        shown = await _place(client, alice, kind, item_id, folder_id=work["id"])
        assert shown["folder_id"] == work["id"]
    tree = await _tree(client, alice)
    assert tree[work["id"]]["counts"] == {"conversations": 1, "sites": 1, "files": 1}
    listed = await client.get(f"{API}/folders/{work['id']}/items", headers=alice.headers)
    page = listed.json()
    assert page["count"] == 3
    assert {(hit["kind"], hit["id"]) for hit in page["items"]} == {
        ("conversation", items["conversations"]),
        ("site", items["sites"]),
        ("file", items["files"]),
    }
    for kind in ("conversations", "sites", "files"):
        only = await client.get(
            f"{API}/{kind}", params={"folder_id": work["id"]}, headers=alice.headers
        )
        assert [i["id"] for i in only.json()["items"]] == [items[kind]]
    # Out of the folder, into the trash and back: the counts follow.
    await _place(client, alice, "sites", items["sites"], folder_id=None)
    await client.delete(f"{API}/files/{items['files']}", headers=alice.headers)
    assert (await _tree(client, alice))[work["id"]]["counts"] == {
        "conversations": 1,
        "sites": 0,
        "files": 0,
    }
    await client.post(f"{API}/trash/{items['files']}/restore", headers=alice.headers)
    assert (await _tree(client, alice))[work["id"]]["counts"]["files"] == 1


async def test_tree_depth_and_cycles(client: httpx.AsyncClient, alice: TestUser):
    chain = [await _folder(client, alice, "level 1")]
    for depth in range(2, 9):
        chain.append(await _folder(client, alice, f"level {depth}", chain[-1]["id"]))
    tree = await client.get(f"{API}/folders", headers=alice.headers)
    assert [f["depth"] for f in tree.json()["items"]] == list(range(1, 9))  # depth first
    too_deep = await client.post(
        f"{API}/folders",
        json={"name": "level 9", "parent_id": chain[-1]["id"]},
        headers=alice.headers,
    )
    assert too_deep.status_code == 409
    top = await _folder(client, alice, "top")
    nested = await _folder(client, alice, "nested", top["id"])
    # A two-level subtree cannot go under level 7.
    moved = await client.patch(
        f"{API}/folders/{top['id']}", json={"parent_id": chain[6]["id"]}, headers=alice.headers
    )
    assert moved.status_code == 409
    for target in (top["id"], nested["id"]):
        cycle = await client.patch(
            f"{API}/folders/{top['id']}", json={"parent_id": target}, headers=alice.headers
        )
        assert cycle.status_code == 409, cycle.text
    fine = await client.patch(
        f"{API}/folders/{nested['id']}",
        json={"parent_id": None, "name": "now on top"},
        headers=alice.headers,
    )
    assert fine.status_code == 200
    assert fine.json()["parent_id"] is None and fine.json()["name"] == "now on top"


async def test_deleting_a_folder_moves_what_it_holds_to_its_parent(
    client: httpx.AsyncClient, alice: TestUser
):
    parent = await _folder(client, alice, "parent")
    doomed = await _folder(client, alice, "doomed", parent["id"])
    child = await _folder(client, alice, "child", doomed["id"])
    items = await _items(client, alice)
    for kind, item_id in items.items():
        await _place(client, alice, kind, item_id, folder_id=doomed["id"])
    await client.delete(f"{API}/files/{items['files']}", headers=alice.headers)  # trashed
    gone = await client.delete(f"{API}/folders/{doomed['id']}", headers=alice.headers)
    assert gone.status_code == 204
    tree = await _tree(client, alice)
    assert doomed["id"] not in tree
    assert tree[child["id"]]["parent_id"] == parent["id"] and tree[child["id"]]["depth"] == 2
    assert tree[parent["id"]]["counts"] == {"conversations": 1, "sites": 1, "files": 0}
    await client.post(f"{API}/trash/{items['files']}/restore", headers=alice.headers)
    restored = await client.get(f"{API}/files/{items['files']}", headers=alice.headers)
    assert restored.json()["folder_id"] == parent["id"]
    assert (
        await client.get(f"{API}/folders/{doomed['id']}", headers=alice.headers)
    ).status_code == 404


async def test_smart_folders_list_a_search_live(client: httpx.AsyncClient, alice: TestUser):
    smart = await _folder(client, alice, "Recipes", query={"q": "recipe"})
    assert smart["query"] == {"q": "recipe", "tag": None, "kind": None}
    conversation = await client.post(
        f"{API}/conversations", json={"title": "soup recipe"}, headers=alice.headers
    )
    first = await client.get(f"{API}/folders/{smart['id']}/items", headers=alice.headers)
    assert first.json()["count"] == 1
    assert first.json()["items"][0]["id"] == conversation.json()["id"]
    await client.post(
        f"{API}/conversations/{conversation.json()['id']}/messages",
        json={"role": "user", "content": "my grandmother's recipe"},
        headers=alice.headers,
    )
    second = await client.get(f"{API}/folders/{smart['id']}/items", headers=alice.headers)
    assert second.json()["count"] == 2  # the title and the new message
    refused = await client.patch(
        f"{API}/conversations/{conversation.json()['id']}",
        json={"folder_id": smart["id"]},
        headers=alice.headers,
    )
    assert refused.status_code == 422
    tagged = await _folder(client, alice, "Urgent", query={"tag": "Urgent", "kind": "sites"})
    items = await _items(client, alice)
    for kind, item_id in items.items():
        await _place(client, alice, kind, item_id, tags=["urgent"])
    listed = await client.get(f"{API}/folders/{tagged['id']}/items", headers=alice.headers)
    assert [hit["id"] for hit in listed.json()["items"]] == [items["sites"]]
    bad = await client.post(
        f"{API}/folders", json={"name": "nothing", "query": {}}, headers=alice.headers
    )
    assert bad.status_code == 422


async def test_tags_normalised_counted_renamed_and_deleted(
    client: httpx.AsyncClient, alice: TestUser
):
    first = await _items(client, alice, "first")
    second = await _items(client, alice, "second")
    shown = await _place(
        client,
        alice,
        "conversations",
        first["conversations"],
        tags=[" Work ", "WORK", "Big  Ideas"],
    )
    assert shown["tags"] == ["work", "big ideas"]
    await _place(client, alice, "sites", first["sites"], tags=["work"])
    await _place(client, alice, "files", second["files"], tags=["ideas", "work"])
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()["items"]
    assert tags == [
        {"name": "big ideas", "count": 1},
        {"name": "ideas", "count": 1},
        {"name": "work", "count": 3},
    ]
    renamed = await client.patch(f"{API}/tags/WORK", json={"name": "Ideas"}, headers=alice.headers)
    assert renamed.status_code == 200 and renamed.json()["changed"] == 3
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()["items"]
    assert tags == [{"name": "big ideas", "count": 1}, {"name": "ideas", "count": 3}]
    file = await client.get(f"{API}/files/{second['files']}", headers=alice.headers)
    assert file.json()["tags"] == ["ideas"]  # merged, not doubled
    listed = await client.get(f"{API}/sites", params={"tag": "IDEAS"}, headers=alice.headers)
    assert [s["id"] for s in listed.json()["items"]] == [first["sites"]]
    deleted = await client.delete(f"{API}/tags/ideas", headers=alice.headers)
    assert deleted.json()["changed"] == 3
    assert (await client.get(f"{API}/tags", headers=alice.headers)).json()["items"] == [
        {"name": "big ideas", "count": 1}
    ]
    missing = await client.delete(f"{API}/tags/ideas", headers=alice.headers)
    assert missing.status_code == 404


async def test_bad_placements_are_422_and_change_nothing(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
):
    items = await _items(client, alice)
    theirs = await _folder(client, bob, "bob's")
    conversation = f"{API}/conversations/{items['conversations']}"
    for body in (
        {"tags": [f"t{i}" for i in range(21)]},
        {"tags": ["x" * 65]},
        {"tags": ["   "]},
        {"tags": None},
        {"tags": "work"},
        {"tags": [{"$ne": 1}]},
        {"pinned": None},
        {"pinned": "yes"},
        {"folder_id": {"$ne": None}},
        {"folder_id": theirs["id"]},
        {"folder_id": "0" * 24},
    ):
        answer = await client.patch(conversation, json=body, headers=alice.headers)
        assert answer.status_code == 422, (body, answer.text)
    after = await client.get(conversation, headers=alice.headers)
    assert after.json()["tags"] == [] and after.json()["folder_id"] is None
    assert after.json()["pinned"] is False
    for body in ({"name": ""}, {"name": "x", "parent_id": theirs["id"]}, {"name": "x", "y": 1}):
        answer = await client.post(f"{API}/folders", json=body, headers=alice.headers)
        assert answer.status_code == 422, (body, answer.text)
    assert await _tree(client, alice) == {}


async def test_pinned_items_come_first_across_pages(client: httpx.AsyncClient, alice: TestUser):
    ids = []
    for i in range(7):
        made = await client.post(
            f"{API}/conversations", json={"title": f"c{i}"}, headers=alice.headers
        )
        ids.append(made.json()["id"])
    pinned = [ids[1], ids[4]]
    for conversation_id in pinned:
        await _place(client, alice, "conversations", conversation_id, pinned=True)
    await _place(client, alice, "conversations", ids[4], pinned=False)
    await _place(client, alice, "conversations", ids[4], pinned=True)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(f"{API}/conversations", params=params, headers=alice.headers)
        ).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Pinned first (newest activity first among them: ids[4] was touched last), then the rest.
    assert seen[:2] == [ids[4], ids[1]]
    assert seen[2:] == [i for i in reversed(ids) if i not in pinned]
    only = await client.get(f"{API}/conversations", params={"pinned": True}, headers=alice.headers)
    assert {c["id"] for c in only.json()["items"]} == set(pinned)
    await _place(client, alice, "conversations", ids[1], pinned=False)
    assert (await client.get(f"{API}/conversations/{ids[1]}", headers=alice.headers)).json()[
        "pinned"
    ] is False


async def test_racing_moves_renames_and_deletes_leave_counts_exact(
    client: httpx.AsyncClient, racers: Racers, alice: TestUser
):
    """8 clients, 200 random moves, tag changes, renames and tag deletes at once, on the app's
    processes with real pools; then every count equals what the items say."""
    folders = [(await _folder(client, alice, f"f{i}"))["id"] for i in range(4)]
    items = [await _items(client, alice, f"i{i}") for i in range(4)]
    targets = [(kind, item_id) for group in items for kind, item_id in group.items()]
    names = ["red", "green", "blue"]
    rng = random.Random(29)

    def operation(step: int):
        kind, item_id = rng.choice(targets)
        roll = rng.random()

        async def act(http: httpx.AsyncClient) -> int:
            if roll < 0.6:
                body = {"folder_id": rng.choice([*folders, None])}
            elif roll < 0.85:
                body = {"tags": rng.sample(names, rng.randint(0, 2))}
            else:
                body = None
            if body is not None:
                answer = await http.patch(
                    f"{API}/{kind}/{item_id}", json=body, headers=alice.headers
                )
            elif step % 2:
                answer = await http.patch(
                    f"{API}/tags/{rng.choice(names)}",
                    json={"name": rng.choice(names)},
                    headers=alice.headers,
                )
            else:
                answer = await http.delete(f"{API}/tags/{rng.choice(names)}", headers=alice.headers)
            assert answer.status_code in (200, 404), answer.text
            return answer.status_code

        return act

    operations = [operation(step) for step in range(200)]
    for start in range(0, len(operations), 8):
        await racers.race(operations[start : start + 8])

    expected_folders: dict[str, dict[str, int]] = {f: {} for f in folders}
    expected_tags: dict[str, int] = {}
    for kind, item_id in targets:
        item = (await client.get(f"{API}/{kind}/{item_id}", headers=alice.headers)).json()
        if item["folder_id"]:
            counts = expected_folders[item["folder_id"]]
            counts[kind] = counts.get(kind, 0) + 1
        for tag in item["tags"]:
            expected_tags[tag] = expected_tags.get(tag, 0) + 1
    tree = await _tree(client, alice)
    for folder_id in folders:
        counts = {k: v for k, v in tree[folder_id]["counts"].items() if v}
        assert counts == expected_folders[folder_id]
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()["items"]
    assert {t["name"]: t["count"] for t in tags} == expected_tags
    assert sum(sum(c.values()) for c in expected_folders.values()) > 0

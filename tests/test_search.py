"""Search: hits point at the exact message and its branch; words, phrases, prefixes, accents and
Chinese; archived messages; edits found at once; trashed and other users' items never.

The same tests run on every engine: here on the embedded one (no text index: the bounded scan),
and through `MONGODB_URL` on engines with text indexes, where `$text` narrows the candidates
(`test_the_engine_path_is_the_one_its_profile_says`)."""

from __future__ import annotations

import httpx
import pytest

from app import engine
from app.database import get_db
from app.search.candidates import message_condition
from app.search.text import parse
from documents.conversation import WINDOW_MAX_MESSAGES
from tests.factories import TestUser

API = "/api/v1"


async def _conversation(client: httpx.AsyncClient, user: TestUser, title: str = "chat") -> str:
    made = await client.post(f"{API}/conversations", json={"title": title}, headers=user.headers)
    assert made.status_code == 201
    return made.json()["id"]


async def _say(
    client: httpx.AsyncClient,
    user: TestUser,
    conversation_id: str,
    content: str,
    *,
    role: str = "user",
    parent_id: str | None = None,
) -> str:
    body = {"role": role, "content": content}
    if parent_id:
        body["parent_id"] = parent_id
    sent = await client.post(
        f"{API}/conversations/{conversation_id}/messages", json=body, headers=user.headers
    )
    assert sent.status_code == 201, sent.text
    return sent.json()["id"]


async def _search(client: httpx.AsyncClient, user: TestUser, q: str, **params: object) -> dict:
    found = await client.get(f"{API}/search", params={"q": q, **params}, headers=user.headers)
    assert found.status_code == 200, found.text
    return found.json()


def _message_ids(page: dict) -> list[str]:
    return [hit["message_id"] for hit in page["items"] if hit["kind"] == "message"]


async def test_a_hit_names_its_message_and_branch(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice, "travel")
    root = await _say(client, alice, conversation_id, "Where should we go in spring?")
    side = await _say(
        client, alice, conversation_id, "Try the Lisbon harbour", role="assistant", parent_id=root
    )
    current = await _say(
        client, alice, conversation_id, "Try Porto by the river", role="assistant", parent_id=root
    )

    lisbon = await _search(client, alice, "lisbon", kind="messages")
    [hit] = lisbon["items"]
    assert hit["kind"] == "message" and hit["message_id"] == side and hit["id"] == side
    assert hit["conversation_id"] == conversation_id and hit["conversation_title"] == "travel"
    assert hit["role"] == "assistant"
    assert hit["on_current_branch"] is False
    assert hit["branch_path"] == [root, side]
    assert hit["snippet"] == "Try the Lisbon harbour"
    assert hit["highlights"] == [[8, 14]]
    assert hit["score"] > 0

    porto = await _search(client, alice, "porto", kind="messages")
    [hit] = porto["items"]
    assert hit["message_id"] == current
    assert hit["on_current_branch"] is True
    assert hit["branch_path"] == [root, current]
    assert lisbon["count"] == porto["count"] == 1


async def test_a_chain_without_parents_is_one_branch(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice)
    first = await _say(client, alice, conversation_id, "quince jam recipe")
    await _say(client, alice, conversation_id, "and then?", role="assistant")
    [hit] = (await _search(client, alice, "quince"))["items"]
    assert hit["message_id"] == first
    assert hit["on_current_branch"] is True and hit["branch_path"] == [first]


async def test_words_phrases_and_prefixes(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice)
    ordered = await _say(client, alice, conversation_id, "The hello world program, again")
    reversed_ = await _say(client, alice, conversation_id, "world, and then hello")
    await _say(client, alice, conversation_id, "othello worldwide")

    both = _message_ids(await _search(client, alice, "hello world "))
    assert set(both) == {ordered, reversed_}  # whole words, any order
    assert _message_ids(await _search(client, alice, '"hello world"')) == [ordered]
    # The last word is also a prefix, the others are whole words.
    assert set(_message_ids(await _search(client, alice, "hello wor"))) == {ordered, reversed_}
    assert _message_ids(await _search(client, alice, "progr")) == [ordered]
    assert _message_ids(await _search(client, alice, "rogram")) == []  # a prefix starts a word
    assert _message_ids(await _search(client, alice, "progr ")) == []  # ended: a whole word
    assert set(_message_ids(await _search(client, alice, "HELLO"))) == {ordered, reversed_}


async def test_accents_and_case_are_ignored_both_ways(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice)
    accented = await _say(client, alice, conversation_id, "Crème brûlée at the Café de Flore")
    plain = await _say(client, alice, conversation_id, "a cafe on the corner")
    assert _message_ids(await _search(client, alice, "creme brulee")) == [accented]
    assert set(_message_ids(await _search(client, alice, "CAFÉ"))) == {accented, plain}
    assert set(_message_ids(await _search(client, alice, "cafe"))) == {accented, plain}
    [hit] = (await _search(client, alice, "brulee"))["items"]
    start, end = hit["highlights"][0]
    assert hit["snippet"][start:end] == "brûlée"


async def test_text_without_spaces_is_found_by_substring(
    client: httpx.AsyncClient, alice: TestUser
):
    conversation_id = await _conversation(client, alice)
    chinese = await _say(client, alice, conversation_id, "我们明天去北京旅行")
    japanese = await _say(client, alice, conversation_id, "東京タワーに行きたいです")
    assert _message_ids(await _search(client, alice, "北京")) == [chinese]
    assert _message_ids(await _search(client, alice, "タワー")) == [japanese]
    assert _message_ids(await _search(client, alice, "上海")) == []
    [hit] = (await _search(client, alice, "北京"))["items"]
    assert hit["highlights"] == [[5, 7]]


async def test_archived_messages_are_found(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice)
    oldest = await _say(client, alice, conversation_id, "the zebra crossing story")
    for i in range(WINDOW_MAX_MESSAGES + 4):
        await _say(client, alice, conversation_id, f"filler {i}")
    archived = await get_db().conversation_archives.count_documents({})
    assert archived > 0, "the window should have rolled into the archive"
    [hit] = (await _search(client, alice, "zebra"))["items"]
    assert hit["message_id"] == oldest and hit["conversation_id"] == conversation_id
    assert hit["branch_path"] == [oldest] and hit["on_current_branch"] is True
    fillers = await _search(client, alice, "filler", kind="messages", limit=100)
    assert fillers["count"] == WINDOW_MAX_MESSAGES + 4
    assert len(set(_message_ids(fillers))) == 100  # each once, window or archive


async def test_an_edit_is_found_at_once_and_the_old_text_no_more(
    client: httpx.AsyncClient, alice: TestUser
):
    conversation_id = await _conversation(client, alice)
    message_id = await _say(client, alice, conversation_id, "apple pie for dessert")
    assert _message_ids(await _search(client, alice, "apple")) == [message_id]
    edited = await client.patch(
        f"{API}/conversations/{conversation_id}/messages/{message_id}",
        json={"content": "banana bread, déjà vu"},
        headers=alice.headers,
    )
    assert edited.status_code == 200
    assert _message_ids(await _search(client, alice, "apple")) == []
    assert _message_ids(await _search(client, alice, "banana")) == [message_id]
    assert _message_ids(await _search(client, alice, "deja vu")) == [message_id]
    appended = await _say(client, alice, conversation_id, "cherry clafoutis")
    assert _message_ids(await _search(client, alice, "clafoutis")) == [appended]


async def test_another_users_identical_text_never_appears(
    client: httpx.AsyncClient, alice: TestUser, bob: TestUser
):
    mine = await _conversation(client, alice, "secret recipe")
    theirs = await _conversation(client, bob, "secret recipe")
    await _say(client, alice, mine, "the secret recipe is saffron")
    await _say(client, bob, theirs, "the secret recipe is saffron")
    await client.post(
        f"{API}/files", files={"file": ("saffron.txt", b"x", "text/plain")}, headers=bob.headers
    )
    page = await _search(client, alice, "saffron")
    assert [hit["conversation_id"] for hit in page["items"]] == [mine]
    titles = await _search(client, alice, "secret recipe", kind="conversations")
    assert [hit["id"] for hit in titles["items"]] == [mine]


async def test_titles_sites_and_files_by_kind(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice, "Garden planning")
    site = await client.post(
        f"{API}/sites",
        json={"title": "Garden shop", "files": [{"path": "index.html", "content": "<p/>"}]},
        headers=alice.headers,
    )
    uploaded = await client.post(
        f"{API}/files",
        files={"file": ("garden-map.png", b"\x89PNG\r\n\x1a\n" + bytes(16), "image/png")},
        headers=alice.headers,
    )
    everything = await _search(client, alice, "garden")
    found = {(hit["kind"], hit["id"]) for hit in everything["items"]}
    assert found == {
        ("conversation", conversation_id),
        ("site", site.json()["id"]),
        ("file", uploaded.json()["id"]),
    }
    only_sites = await _search(client, alice, "garden", kind="sites")
    assert [hit["id"] for hit in only_sites["items"]] == [site.json()["id"]]
    only_files = await _search(client, alice, "map", kind="files")
    assert [hit["title"] for hit in only_files["items"]] == ["garden-map.png"]


async def test_ranked_then_paged_with_one_cursor(client: httpx.AsyncClient, alice: TestUser):
    conversation_id = await _conversation(client, alice)
    strong = await _say(client, alice, conversation_id, "walnut walnut walnut cake")
    for i in range(6):
        await _say(client, alice, conversation_id, f"walnut note {i}")
    first = await _search(client, alice, "walnut", kind="messages", limit=3)
    assert first["items"][0]["message_id"] == strong  # more matches rank first
    assert first["count"] == 7 and first["next_cursor"]
    seen = _message_ids(first)
    cursor = first["next_cursor"]
    while cursor:
        page = await _search(client, alice, "walnut", kind="messages", limit=3, cursor=cursor)
        seen += _message_ids(page)
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 7
    # Equal scores: newest first.
    rest = seen[1:]
    assert rest == sorted(rest, reverse=True)


async def test_trashed_items_are_not_found_until_restored(
    client: httpx.AsyncClient, alice: TestUser
):
    conversation_id = await _conversation(client, alice, "mango season")
    await _say(client, alice, conversation_id, "ripe mango")
    assert (await _search(client, alice, "mango"))["count"] == 2
    await client.delete(f"{API}/conversations/{conversation_id}", headers=alice.headers)
    assert (await _search(client, alice, "mango"))["count"] == 0
    await client.post(f"{API}/trash/{conversation_id}/restore", headers=alice.headers)
    assert (await _search(client, alice, "mango"))["count"] == 2


async def test_filters_by_folder_and_tag(client: httpx.AsyncClient, alice: TestUser):
    filed = await _conversation(client, alice, "kiwi one")
    loose = await _conversation(client, alice, "kiwi two")
    await _say(client, alice, filed, "kiwi smoothie")
    await _say(client, alice, loose, "kiwi smoothie")
    folder = await client.post(f"{API}/folders", json={"name": "Fruit"}, headers=alice.headers)
    folder_id = folder.json()["id"]
    await client.patch(
        f"{API}/conversations/{filed}",
        json={"folder_id": folder_id, "tags": ["Tropical"]},
        headers=alice.headers,
    )
    in_folder = await _search(client, alice, "kiwi", folder_id=folder_id)
    assert {hit["conversation_id"] or hit["id"] for hit in in_folder["items"]} == {filed}
    tagged = await _search(client, alice, "kiwi", tag="TROPICAL", kind="messages")
    assert [hit["conversation_id"] for hit in tagged["items"]] == [filed]
    assert tagged["items"][0]["tags"] == ["tropical"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": '"" !!'}, "query.q"),
        ({"q": ""}, "query.q"),
        ({"q": "x" * 201}, "query.q"),
        ({"q": "a", "kind": "users"}, "query.kind"),
        ({"q": "a", "cursor": "bm90IG91cnM"}, "query.cursor"),
        ({"q": "a", "folder_id": "$ne"}, "query.folder_id"),
        ({"q": "a", "limit": 101}, "query.limit"),
    ],
)
async def test_bad_queries_are_422(
    client: httpx.AsyncClient, alice: TestUser, params: dict, field: str
):
    answer = await client.get(f"{API}/search", params=params, headers=alice.headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["loc"][:2] == field.split(".")


async def test_operators_and_patterns_in_a_query_are_text(
    client: httpx.AsyncClient, alice: TestUser
):
    conversation_id = await _conversation(client, alice)
    literal = await _say(client, alice, conversation_id, "costs $100 (or .* more)")
    await _say(client, alice, conversation_id, "unrelated")
    assert _message_ids(await _search(client, alice, '"$100"')) == [literal]
    punctuation = await client.get(f"{API}/search", params={"q": ".*"}, headers=alice.headers)
    assert punctuation.status_code == 422  # no words to search for
    for q in ('{"$gt": ""}', "[a-z]+", "(", "\\"):
        answer = await client.get(f"{API}/search", params={"q": q}, headers=alice.headers)
        assert answer.status_code in (200, 422), answer.text


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    for path in ("/search?q=a", "/folders", "/tags"):
        answer = await client.get(f"{API}{path}")
        assert answer.status_code == 401


async def test_the_engine_path_is_the_one_its_profile_says(
    client: httpx.AsyncClient, alice: TestUser
):
    """Text indexes where the engine has them (the candidates come from `$text`), the
    regular-expression scan where it does not; a query without whole words scans everywhere."""
    indexes = await get_db().conversations.index_information()
    has_text = engine.profile().text_index
    assert ("owner_message_text" in indexes) is has_text
    assert ("$text" in message_condition(parse("hello wor"))) is has_text  # type: ignore[arg-type]
    assert "$text" not in message_condition(parse("wor"))  # type: ignore[arg-type]
    assert "$text" not in message_condition(parse("北京"))  # type: ignore[arg-type]

"""A client generated from the served `/openapi.json` with openapi-python-client (as a user
would generate it, no hand edits) drives a scenario through every area against the app in
its own uvicorn process: typed results on success, the `Problem` model on 404, 409 and 422."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from bson import ObjectId

from app.settings import Settings
from tests.servers import PATIENT, served_app

PACKAGE = "genstore_client"


def _generate(openapi: bytes, into: Path) -> None:
    spec = into / "openapi.json"
    spec.write_bytes(openapi)
    bin_dir = str(Path(sys.executable).parent)  # the generator runs ruff on what it writes
    result = subprocess.run(
        [
            str(Path(bin_dir) / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(into / PACKAGE),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Any warning means an operation or model was left out or typed loosely.
    assert "Warning" not in output, output


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Path]:
    """A folder for the generated package, and its modules forgotten afterwards."""
    yield tmp_path
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def _load(root: Path) -> ModuleType:
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


def _op(area: str, operation_id: str) -> ModuleType:
    """The generated module of one operation: `asyncio_detailed(...)` calls it."""
    return importlib.import_module(f"{PACKAGE}.api.{area}.{operation_id}")


async def test_a_generated_client_drives_every_area(settings: Settings, generated: Path) -> None:
    async with served_app(settings) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=PATIENT) as http:
            _generate((await http.get("/openapi.json")).content, generated)
        client_package = _load(generated)
        models = importlib.import_module(f"{PACKAGE}.models")
        types = importlib.import_module(f"{PACKAGE}.types")
        anonymous = client_package.Client(base_url=served.base_url, timeout=PATIENT)

        # register → token → API key
        email = f"generated-{uuid.uuid4().hex[:8]}@example.com"
        registered = await _op("auth", "auth_register").asyncio_detailed(
            client=anonymous,
            body=models.RegisterRequest(email=email, password="generated-password"),
        )
        assert registered.status_code == 201 and isinstance(registered.parsed, models.UserRead)
        again = await _op("auth", "auth_register").asyncio_detailed(
            client=anonymous,
            body=models.RegisterRequest(email=email, password="generated-password"),
        )
        assert again.status_code == 409 and isinstance(again.parsed, models.Problem)
        token = await _op("auth", "auth_token").asyncio_detailed(
            client=anonymous,
            body=models.BodyAuthToken(username=email, password="generated-password"),
        )
        assert isinstance(token.parsed, models.AccessToken)
        bearer = client_package.AuthenticatedClient(
            base_url=served.base_url, token=token.parsed.access_token, timeout=PATIENT
        )
        created_key = await _op("users", "api_keys_create").asyncio_detailed(
            client=bearer,
            body=models.ApiKeyCreate(name="generated", scopes=[models.ApiKeyCreateScopesItem("*")]),
        )
        assert isinstance(created_key.parsed, models.ApiKeyCreated)
        client = client_package.AuthenticatedClient(
            base_url=served.base_url,
            token=created_key.parsed.key,
            prefix="",
            auth_header_name="X-API-Key",
            timeout=PATIENT,
        )

        # conversations and messages, with search
        conversation = await _op("conversations", "conversations_create").asyncio_detailed(
            client=client, body=models.ConversationCreate(title="generated")
        )
        assert isinstance(conversation.parsed, models.ConversationRead)
        conversation_id = conversation.parsed.id
        for index, text in enumerate(["a red fox", "a blue whale", "another red herring"]):
            appended = await _op("conversations", "messages_append").asyncio_detailed(
                conversation_id,
                client=client,
                body=models.MessageCreate(
                    role=models.MessageCreateRole.USER
                    if index % 2 == 0
                    else models.MessageCreateRole.ASSISTANT,
                    content=text,
                    model="gpt-test",
                    usage=models.MessageUsageIn(
                        provider="openai", prompt_tokens=10, completion_tokens=5, cost_usd="0.25"
                    ),
                ),
            )
            assert isinstance(appended.parsed, models.MessageRead), appended.content
            assert appended.parsed.usage.provider == "openai"
            assert appended.parsed.usage.cost_usd == 0.25
        found = await _op("conversations", "messages_list").asyncio_detailed(
            conversation_id, client=client, q="RED", limit=1
        )
        assert isinstance(found.parsed, models.PageMessageRead)
        assert [m.content for m in found.parsed.items] == ["another red herring"]
        rest = await _op("conversations", "messages_list").asyncio_detailed(
            conversation_id, client=client, q="RED", limit=1, cursor=found.parsed.next_cursor
        )
        assert [m.content for m in rest.parsed.items] == ["a red fox"]
        assert rest.parsed.next_cursor is None
        assert rest.parsed.items[0].role == models.MessageReadRole.USER
        missing = await _op("conversations", "conversations_get").asyncio_detailed(
            str(ObjectId()), client=client
        )
        assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)
        assert missing.parsed.status == 404
        invalid = await _op("conversations", "messages_list").asyncio_detailed(
            conversation_id, client=client, limit=1000
        )
        assert invalid.status_code == 422 and isinstance(invalid.parsed, models.Problem)
        assert invalid.parsed.errors[0].loc == ["query", "limit"]

        # files: upload, ranged download
        payload = bytes(range(256)) * 8
        uploaded = await _op("files", "files_upload").asyncio_detailed(
            client=client,
            body=models.FilesUploadBody(
                file=types.File(payload=payload, file_name="data.bin", mime_type="application/x")
            ),
        )
        assert isinstance(uploaded.parsed, models.FileRead), uploaded.content
        ranged = await _op("files", "files_download").asyncio_detailed(
            uploaded.parsed.id, client=client, range_="bytes=10-19"
        )
        assert ranged.status_code == 206
        assert isinstance(ranged.parsed, types.File)
        assert ranged.parsed.payload.read() == payload[10:20]
        assert ranged.headers["content-range"] == f"bytes 10-19/{len(payload)}"

        # sites: create, commit, diff, publish (a link to the served port), stale commit → 409
        site = await _op("sites", "sites_create").asyncio_detailed(
            client=client,
            body=models.SiteCreate(
                title="generated", files=[models.ChangeIn(path="index.html", content="<p>1</p>")]
            ),
        )
        assert isinstance(site.parsed, models.SiteRead), site.content
        site_id = site.parsed.id
        commit = models.VersionCreate(
            base_version=1, changes=[models.ChangeIn(path="index.html", content="<p>2</p>")]
        )
        version = await _op("sites", "site_versions_commit").asyncio_detailed(
            site_id, client=client, body=commit
        )
        assert isinstance(version.parsed, models.VersionRead) and version.parsed.number == 2
        stale = await _op("sites", "site_versions_commit").asyncio_detailed(
            site_id, client=client, body=commit
        )
        assert stale.status_code == 409 and isinstance(stale.parsed, models.Problem)
        diff = await _op("sites", "sites_diff").asyncio_detailed(
            site_id, client=client, from_=1, to=2
        )
        assert isinstance(diff.parsed, models.SiteDiff)
        published = await _op("sites", "sites_publish").asyncio_detailed(
            site_id, client=client, body=models.PublishRequest(version=2)
        )
        assert isinstance(published.parsed, models.SiteRead)
        assert published.parsed.published_url.startswith(served.base_url + "/p/")
        async with httpx.AsyncClient(timeout=PATIENT) as http:
            page = await http.get(published.parsed.published_url)
        assert page.text == "<p>2</p>"

        # usage → analytics: the messages' cost arrived with their provider
        recorded = await _op("usage", "usage_record").asyncio_detailed(
            client=client,
            body=models.UsageCreate(
                provider="anthropic", model="claude-test", operation="chat", cost_usd="1.5"
            ),
        )
        assert isinstance(recorded.parsed, models.UsageRead), recorded.content
        report = await _op("analytics", "analytics_usage").asyncio_detailed(
            client=client, group_by=models.AnalyticsUsageGroupBy.PROVIDER
        )
        assert isinstance(report.parsed, models.UsageReport)
        costs = {row.key: row.cost_usd for row in report.parsed.items}
        assert costs == {"openai": 0.75, "anthropic": 1.5}

        # export: the account as a zip, read as bytes
        export = await _op("users", "users_export_me").asyncio_detailed(client=client)
        assert export.status_code == 200 and isinstance(export.parsed, types.File)
        assert export.parsed.payload.read(2) == b"PK"

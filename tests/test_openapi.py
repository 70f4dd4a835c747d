"""The OpenAPI document as a client generator reads it: valid, one name per schema, stable
`area_verb` operation ids, every error documented as a Problem, closed sets as enums, binary
responses typed, links from creations."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate

from app.routing import every_route

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")
    assert len(_operations(document)) >= 95


def test_operation_ids_are_unique_and_area_verb(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId", "") for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    bad = [i for i in ids if not re.fullmatch(r"[a-z]+(_[a-z]+)+", i)]
    assert not bad, bad
    assert {
        "conversations_list",
        "messages_append",
        "files_download",
        "site_versions_commit",
    } <= set(ids)


def test_one_name_per_schema(document: dict[str, Any]) -> None:
    names = list(document["components"]["schemas"])
    # FastAPI qualifies a clashing name with its module (`app__usage__schemas__UsageRead`).
    assert not [name for name in names if "__" in name]
    assert "HTTPValidationError" not in names and "ValidationError" not in names
    assert {"UsageRead", "MessageUsageRead", "Problem"} <= set(names)


def test_every_error_is_a_documented_problem(document: dict[str, Any]) -> None:
    missing: list[str] = []
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        expected = {"503"}
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("422")
        if operation.get("security"):
            expected |= {"401", "404"}
        for status in sorted(expected - set(responses)):
            missing.append(f"{label}: no {status}")
        for status, response in responses.items():
            if status[0] in "45":
                content = response.get("content", {})
                if content != {"application/problem+json": {"schema": PROBLEM}}:
                    missing.append(f"{label} {status}: {content}")
    assert not missing, "\n".join(missing)
    problem = _schema(document, "Problem")
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    assert document["paths"]["/api/v1/sites/{site_id}/versions"]["post"]["responses"]["409"]
    assert document["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"][
        "responses"
    ]["410"]


def _enum(document: dict[str, Any], schema: str, field: str) -> list[str]:
    prop = _schema(document, schema)["properties"][field]
    if prop.get("type") == "array":
        prop = prop["items"]
    options = prop.get("anyOf", [prop])
    return next(option["enum"] for option in options if "enum" in option)


def test_closed_sets_are_enums(document: dict[str, Any]) -> None:
    assert _enum(document, "MessageRead", "role") == ["user", "assistant", "system"]
    assert _enum(document, "MessageRead", "type") == ["text", "code", "image"]
    assert _enum(document, "SharedMessageRead", "role") == ["user", "assistant", "system"]
    assert "succeeded" in _enum(document, "GenerationRead", "status")
    assert "website" in _enum(document, "GenerationRead", "kind")
    assert _enum(document, "ProjectRead", "visibility") == ["private", "public"]
    assert "draft" in _enum(document, "ProjectRead", "status")
    assert "skipped" in _enum(document, "PhaseRead", "status")
    assert "pending" in _enum(document, "WorkflowRead", "status")
    assert _enum(document, "UsageRead", "status") == ["ok", "error"]
    assert "conversations:read" in _enum(document, "ApiKeyRead", "scopes")
    assert "*" in _enum(document, "ApiKeyCreate", "scopes")


def test_binary_responses_have_their_media_types_and_headers(document: dict[str, Any]) -> None:
    download = document["paths"]["/api/v1/files/{file_id}/content"]["get"]
    ok = download["responses"]["200"]
    assert ok["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert {"ETag", "Accept-Ranges", "Content-Disposition"} <= set(ok["headers"])
    assert "Content-Range" in download["responses"]["206"]["headers"]
    assert "304" in download["responses"] and "416" in download["responses"]
    headers = {p["name"] for p in download["parameters"] if p["in"] == "header"}
    assert {"Range", "If-None-Match"} <= headers
    export = document["paths"]["/api/v1/sites/{site_id}/export"]["get"]["responses"]["200"]
    assert export["content"]["application/zip"]["schema"]["format"] == "binary"
    assert "Content-Disposition" in export["headers"]
    for path in (
        "/p/{site_id}/{path}",
        "/s/{token}/{path}",
        "/api/v1/sites/{site_id}/files/{path}",
    ):
        assert (
            "application/octet-stream"
            in document["paths"][path]["get"]["responses"]["200"]["content"]
        )


def test_creations_link_to_what_they_created(document: dict[str, Any]) -> None:
    created = document["paths"]["/api/v1/conversations"]["post"]["responses"]["201"]
    links = created["links"]
    assert links["conversations_get"]["parameters"] == {"conversation_id": "$response.body#/id"}
    assert {"conversations_update", "conversations_delete", "messages_append"} <= set(links)
    message = document["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert message["responses"]["201"]["links"]["messages_edit"]["parameters"] == {
        "conversation_id": "$request.path.conversation_id",
        "message_id": "$response.body#/id",
    }
    version = document["paths"]["/api/v1/sites/{site_id}/versions"]["post"]["responses"]["201"]
    assert version["links"]["site_versions_get"]["parameters"]["number"] == "$response.body#/number"
    ids = {operation["operationId"] for _, _, operation in _operations(document)}
    for _, _, operation in _operations(document):
        for link in operation["responses"].get("201", {}).get("links", {}).values():
            assert link["operationId"] in ids


def test_messages_before_is_a_deprecated_alias(document: dict[str, Any]) -> None:
    listing = document["paths"]["/api/v1/conversations/{conversation_id}/messages"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert parameters["before"]["deprecated"] is True
    assert {"cursor", "limit", "q"} <= set(parameters)
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Page_MessageRead_"}


def _sample_path(template: str) -> str:
    path = re.sub(r"\{[^}:]+:path\}", "a/b.html", template)
    return re.sub(r"\{[^}]+\}", "5f0000000000000000000001", path)


def _pattern(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "[^/]+", re.sub(r"\{[^}:]+:path\}", ".*", template))


async def test_no_path_matches_two_routes(app: FastAPI) -> None:
    """The routers are included busiest first (`app/main.py`): that is safe only while no
    request could be answered by a route of another router, whatever the order."""
    routes = [
        (context.path, method)
        for context in iter_route_contexts(every_route(app))
        if isinstance(context.original_route, APIRoute) and context.path
        for method in context.original_route.methods
    ]
    assert len(routes) > 50
    for template, method in routes:
        sample = _sample_path(template)
        answering = {
            other
            for other, other_method in routes
            if other_method == method and re.fullmatch(_pattern(other), sample)
        }
        assert answering == {template}, (method, sample, answering)

"""The OpenAPI document (`/openapi.json`) that clients are generated from.

FastAPI writes each operation from its route: paths, parameters, bodies, success responses and
the `operation_id` every route sets (`area_verb`). What a route cannot say by itself is added
here, once, for every operation:

- its errors, each an `application/problem+json` `Problem` (the one body every error has,
  `app/errors.py`): 503 everywhere (the database can be down), 422 where there is input, 400
  and 413 where there is a body, 404 where the path names something, 401/403/404/429 where a
  credential is required (a foreign id is a 404, a key without the area's scope a 403, a
  rate-limited key a 429), and what the route declares with `problems(...)`;
- links from an operation that creates something to the operations on what it created, so a
  client (or schemathesis' stateful mode) can follow `create → get/patch/delete/sub-resources`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from fastapi.security.base import SecurityBase
from starlette.routing import BaseRoute

from app.auth.dependencies import authenticates
from app.errors import PROBLEM_JSON, Problem
from app.routing import every_route

REF = "#/components/schemas/"
PROBLEM_REF = {"$ref": REF + "Problem"}
DATABASE_DOWN = 503
WITH_INPUT = 422
WITH_BODY = (400, 413)  # bytes that are not a body of the declared type; over the limit
WITH_CREDENTIAL = (401, 403, 404, 429)
NAMED_RESOURCE = 404  # a path naming something that is not there
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {"description": "`Bearer` or `ApiKey`", "schema": {"type": "string"}}
    },
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}
# FastAPI's own validation-error shapes: never sent, every 422 is a Problem.
FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")
PATH_PARAM = re.compile(r"{([^}]+)}")
# Creations whose resource lives under another path than the one they were posted to.
LINKED_ELSEWHERE = {
    "messages_append": ["/api/v1/conversations/{conversation_id}/branch"],
    "conversations_fork": ["/api/v1/conversations"],
    "shares_create_for_conversation": ["/api/v1/shares"],
    "shares_create_for_site": ["/api/v1/shares"],
}


def problems(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's own error statuses, for its decorator's `responses=`, each optionally with
    what it means there: `problems(409, (410, "The conversation has expired"))`. The body
    (`Problem`) is added with every other error's in `complete`."""
    declared: dict[int | str, dict[str, Any]] = {}
    for entry in statuses:
        status, description = entry if isinstance(entry, tuple) else (entry, None)
        declared[status] = {"description": description or _phrase(status)}
    return declared


def multipart_body(file_field: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` of a route that parses its multipart body itself (`app/uploads.py`), so
    FastAPI cannot describe it: a required binary `file_field` and optional `fields`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [file_field],
                        "properties": {
                            file_field: {"type": "string", "format": "binary"},
                            **fields,
                        },
                    }
                }
            },
        }
    }


def install_openapi(app: FastAPI, schemes: Sequence[SecurityBase] = ()) -> None:
    """Serve the completed document at `/openapi.json` (built once, on first request).

    `schemes` are the ways to sign in: every operation with a dependency marked `signs_in`
    (`app/auth/dependencies.py`, which reads the credentials itself) accepts each of them."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            routes = every_route(app)
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=routes,
            )
            _add_security(document, routes, schemes)
            complete(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_security(
    document: dict[str, Any], routes: Sequence[BaseRoute], schemes: Sequence[SecurityBase]
) -> None:
    if not schemes:
        return
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        scheme.scheme_name: scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        for scheme in schemes
    }
    for context in iter_route_contexts(routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None or not authenticates(dependant):
            continue
        item = document["paths"].get(context.path_format, {})
        for method in context.methods or ():
            if (operation := item.get(method.lower())) is not None:
                operation["security"] = [{scheme.scheme_name: []} for scheme in schemes]


def complete(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    problem = Problem.model_json_schema(ref_template=REF + "{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    for _, _, operation in operations:
        _add_errors(operation)
    for path, method, operation in operations:
        if method == "post":
            _add_links(document["paths"], path, operation, schemas)


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


def _add_errors(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    statuses = {int(code) for code in responses if code[0] in "45"}
    statuses.add(DATABASE_DOWN)
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(WITH_INPUT)
    if operation.get("requestBody"):
        statuses.update(WITH_BODY)
    if operation.get("security"):
        statuses.update(WITH_CREDENTIAL)
    if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
        statuses.add(NAMED_RESOURCE)
    for status in sorted(statuses):
        described = responses.get(str(status), {}).get("description")
        response: dict[str, Any] = {
            "description": described or _phrase(status),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
        if status in ERROR_HEADERS:
            response["headers"] = ERROR_HEADERS[status]
        responses[str(status)] = response


def _add_links(
    paths: dict[str, Any], path: str, operation: dict[str, Any], schemas: dict[str, Any]
) -> None:
    """`POST /things` (201 with an `id`) links to every operation under `/things/{thing_id}`;
    the created thing's `id` fills the new `…_id` path parameter (or its field of the same
    name: a site version's `number`, a tutorial's `slug`), the request's own path parameters
    the rest."""
    created = operation["responses"].get("201")
    if created is None:
        return
    fields = _response_fields(created, schemas)
    own_params = set(PATH_PARAM.findall(path))
    links: dict[str, Any] = {}
    for base in [path, *LINKED_ELSEWHERE.get(operation["operationId"], [])]:
        links.update(_links_under(paths, base, own_params, fields))
    if links:
        created["links"] = links


def _links_under(
    paths: dict[str, Any], base: str, own_params: set[str], fields: set[str]
) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for other_path, item in paths.items():
        if not other_path.startswith(base + "/{"):
            continue
        new_param = PATH_PARAM.match(other_path, len(base) + 1)
        if new_param is None:
            continue
        name = new_param.group(1)
        source = name if name in fields else "id" if name.endswith("_id") else None
        if source not in fields:
            continue
        needed = set(PATH_PARAM.findall(other_path))
        if not needed <= own_params | {name}:
            continue  # needs ids this creation does not give
        parameters = {param: f"$request.path.{param}" for param in sorted(needed - {name})}
        parameters[name] = f"$response.body#/{source}"
        for method, other in item.items():
            links[other["operationId"]] = {
                "operationId": other["operationId"],
                "parameters": parameters,
                "description": f"{method.upper()} {other_path} on what this created",
            }
    return links


def _response_fields(response: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith(REF):
        schema = schemas.get(ref.removeprefix(REF), {})
    return set(schema.get("properties", {}))


# Routes that purge for good answer 409 while the account is under a legal hold.
LEGAL_HOLD = problems((409, "The account is under a legal hold"))

"""Serving stored bytes over HTTP: ETag (the sha256), conditional requests and byte ranges."""

from __future__ import annotations

import re
from urllib.parse import quote

from bson import ObjectId
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app import storage
from app.content_types import safe_filename
from app.errors import RangeNotSatisfiable

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range as inclusive (start, end), or None to send everything.

    Suffix ranges (`bytes=-500`) and open ranges (`bytes=500-`) are supported; several ranges
    or a malformed header are ignored (RFC 9110 allows that); a range that starts past the end
    raises RangeNotSatisfiable (416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable("An empty suffix range selects nothing.")
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable("The range starts past the end of the content.")
    return start, min(end, size - 1)


def etag_for(sha256: str) -> str:
    return f'"{sha256}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in candidates


def content_disposition(filename: str | None, disposition: str = "attachment") -> str:
    name = safe_filename(filename)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def blob_response(
    request: Request,
    owner_id: ObjectId,
    sha256: str,
    size: int,
    content_type: str,
    *,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    etag = etag_for(sha256)
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=0, must-revalidate",
        **(extra_headers or {}),
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    try:
        byte_range = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable as exc:
        exc.headers = {"Content-Range": f"bytes */{size}"}
        raise
    if request.headers.get("if-range") and request.headers["if-range"] != etag:
        byte_range = None
    if byte_range is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            storage.open_blob(owner_id, sha256), media_type=content_type, headers=headers
        )
    start, end = byte_range
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        storage.open_blob(owner_id, sha256, start, end),
        status_code=206,
        media_type=content_type,
        headers=headers,
    )


# Published and shared sites, for anyone. Generated pages run in a sandbox (an opaque origin:
# no access to this API's cookies or storage) and may not be framed or call out.
PUBLIC_SITE_HEADERS = {
    "Content-Security-Policy": (
        "sandbox allow-scripts allow-forms allow-popups; default-src 'self' data: blob:; "
        "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=0, must-revalidate",
}


# --- how the operations that serve bytes are documented ------------------------------------

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_TEXT_HEADER = {"schema": {"type": "string"}}


def _header(description: str) -> dict[str, object]:
    return {"description": description, **_TEXT_HEADER}


_BLOB_HEADERS = {
    "ETag": _header("The sha256 of the bytes, quoted; send it back in `If-None-Match`"),
    "Accept-Ranges": _header("`bytes`"),
    "Content-Length": {"description": "Bytes in this response", "schema": {"type": "integer"}},
}


def blob_responses(*, attachment: bool = False) -> dict[int | str, dict[str, object]]:
    """`responses=` of an operation answered by `blob_response`: the bytes in their stored
    type (`application/octet-stream` first, for clients that read any type as bytes), 206 for
    a `Range`, 304 for a matching `If-None-Match`, 416 for a range past the end."""
    headers = dict(_BLOB_HEADERS)
    if attachment:
        headers["Content-Disposition"] = _header("`attachment` with the file's name")
    content = {"application/octet-stream": _BINARY, "*/*": _BINARY}
    return {
        200: {
            "description": "The bytes, in their stored type",
            "content": content,
            "headers": headers,
        },
        206: {
            "description": "The requested byte range",
            "content": content,
            "headers": {**headers, "Content-Range": _header("`bytes first-last/size`")},
        },
        304: {
            "description": "Not modified: the `If-None-Match` tag is current",
            "headers": {"ETag": _BLOB_HEADERS["ETag"]},
        },
        416: {"description": "The range starts past the end (`Content-Range: bytes */size`)"},
    }


# `openapi_extra=` of those operations: the request headers `blob_response` reads.
BLOB_REQUEST_HEADERS = {
    "parameters": [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string", "maxLength": 1000},
        }
        for name, description in (
            ("Range", "One `bytes=first-last` range (also `bytes=first-` and `bytes=-suffix`)"),
            ("If-None-Match", "An `ETag` from before: 304 when the bytes are unchanged"),
            ("If-Range", "An `ETag`: the range is honoured only while it is current"),
        )
    ]
}


def archive_responses() -> dict[int | str, dict[str, object]]:
    """`responses=` of an operation that streams a zip archive."""
    content = {"application/zip": _BINARY, "application/octet-stream": _BINARY}
    return {
        200: {
            "description": "A zip archive (read it as bytes)",
            "content": content,
            "headers": {"Content-Disposition": _header("`attachment` with the archive's name")},
        }
    }

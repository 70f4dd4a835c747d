"""Content types from bytes and paths. The bytes decide; a client's claim is only a hint."""

from __future__ import annotations

import mimetypes
import posixpath

OCTET_STREAM = "application/octet-stream"

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"wOFF", 0, "font/woff"),
    (b"wOF2", 0, "font/woff2"),
]

IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
# Text types a client may name for UTF-8 bytes that have no signature of their own.
_TEXT_HINTS = {
    "text/plain",
    "text/html",
    "text/css",
    "text/csv",
    "text/markdown",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
    "application/xml",
    "text/xml",
}


def sniff(head: bytes) -> str | None:
    """The type the first bytes prove, or None."""
    for signature, offset, content_type in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    return None


def _is_utf8_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return False
    return b"\x00" not in head


def detect(head: bytes, hint: str | None = None, filename: str | None = None) -> str:
    """Bytes first; then, for UTF-8 text, the client's hint or the filename's extension."""
    proven = sniff(head)
    if proven:
        return proven
    if not _is_utf8_text(head):
        return OCTET_STREAM
    candidates = [(hint or "").split(";")[0].strip().lower()]
    if filename:
        candidates.append((mimetypes.guess_type(filename)[0] or "").lower())
    for candidate in candidates:
        if candidate in _TEXT_HINTS:
            return candidate
    return "text/plain"


def for_path(path: str, head: bytes = b"") -> str:
    """A site file's type: its extension, checked against its bytes."""
    guessed = mimetypes.guess_type(posixpath.basename(path))[0]
    proven = sniff(head) if head else None
    if proven:
        return proven
    if guessed and (guessed.startswith("text/") or guessed in _TEXT_HINTS):
        return guessed if _is_utf8_text(head) else OCTET_STREAM
    return guessed or (detect(head) if head else OCTET_STREAM)


def safe_filename(name: str | None, fallback: str = "file") -> str:
    """The last path component, without control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')
    cleaned = cleaned.strip().lstrip(".")
    return cleaned[:255] or fallback

"""Site file paths: relative POSIX paths, validated and normalised the same way everywhere."""

from __future__ import annotations

MAX_PATH_LENGTH = 512


class InvalidPath(ValueError):
    pass


def normalise_path(raw: str) -> str:
    """`./css//site.css` → `css/site.css`. Refuses absolute paths, `..`, backslashes, NUL and
    control characters, empty paths and paths over 512 characters."""
    if not isinstance(raw, str) or not raw:
        raise InvalidPath("the path is empty")
    if len(raw) > MAX_PATH_LENGTH:
        raise InvalidPath(f"the path is longer than {MAX_PATH_LENGTH} characters")
    if raw.startswith("/"):
        raise InvalidPath("the path must be relative (no leading '/')")
    if "\\" in raw:
        raise InvalidPath("the path must use '/' (no backslash)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise InvalidPath("the path must not contain NUL or control characters")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise InvalidPath("the path must not contain '..'")
    if not parts:
        raise InvalidPath("the path names no file")
    if raw.endswith("/"):
        raise InvalidPath("the path names a directory")
    return "/".join(parts)

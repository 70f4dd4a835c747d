"""Opening an uploaded export: JSON or ZIP, told apart by their first bytes, its format detected
from the first conversation, and its conversations streamed one at a time (ijson), so memory
holds one conversation, never the file.

A ZIP is read member by member without extracting anything. It is refused when a member's path
would escape an extraction directory, when it declares more than `MAX_UNZIPPED_BYTES`, or when a
member inflates past its declared size or `MAX_RATIO` times its compressed size (a ZIP bomb):
the limits hold while reading, whatever the directory claims.

A ChatGPT export ZIP also holds the files its messages point to (`file-…-photo.png`,
`dalle-generations/file-….webp`, `user-…/file_….png`): each pointer is matched to its member by
the file id the member's name starts with, and the writer streams the member into the store.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import ijson

from app.imports.formats import LOOKED_FOR, READERS, UnknownFormat, detect, genstore
from app.imports.shape import ImportedConversation, SourceKind

MAX_UNZIPPED_BYTES = 4 * 1024**3
MAX_RATIO = 200
MEMBER_READ_BYTES = 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"


class BadExport(ValueError):
    """The file cannot be read as an export: malformed, unsafe, or of no known format."""


@dataclass
class Progress:
    """Bytes of the upload read so far (compressed bytes for a ZIP)."""

    total: int
    read: int = 0


class _Counting(io.RawIOBase):
    """A file that counts what is read from it into `progress`."""

    def __init__(self, raw: IO[bytes], progress: Progress) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.progress.read += len(data)
        return len(data)


class _Bounded(io.RawIOBase):
    """A ZIP member that may not inflate past `limit` bytes; what it inflates is progress."""

    def __init__(self, raw: IO[bytes], limit: int, name: str, progress: Progress) -> None:
        self.raw = raw
        self.limit = limit
        self.name = name
        self.progress = progress
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise BadExport(f"{self.name} inflates past its declared size: refused as a ZIP bomb.")
        buffer[: len(data)] = data
        self.progress.read += len(data)
        return len(data)


@dataclass
class Export:
    """An opened export file: its format and how to stream its conversations."""

    path: Path
    kind: SourceKind
    members: list[str] = field(default_factory=list)  # the JSON members of a ZIP, in order
    progress: Progress = field(default_factory=lambda: Progress(0))
    temporary: bool = False  # an upload of ours, deleted when its job ends
    # A ChatGPT ZIP's files: file id -> (member, its size).
    assets: dict[str, tuple[str, int]] = field(default_factory=dict)
    max_file_bytes: int | None = None  # files larger than this are reported, not imported

    def conversations(self) -> Iterator[ImportedConversation]:
        """Blocking (parsing is CPU work): the service calls it from a worker thread."""
        try:
            if self.kind == "genstore":
                with zipfile.ZipFile(self.path) as archive:
                    yield from genstore.conversations(
                        archive, lambda name: _open_member(archive, name, self.progress)
                    )
                return
            reader = READERS[self.kind]
            if not self.members:
                with self.path.open("rb") as raw:
                    counted = io.BufferedReader(_Counting(raw, self.progress))
                    yield from (reader(item) for item in _items(counted, self.kind))
                return
            with zipfile.ZipFile(self.path) as archive:
                for name in self.members:
                    with _open_member(archive, name, self.progress) as member:
                        for item in _items(member, self.kind):
                            yield self._with_files(reader(item))
        except ijson.JSONError as exc:
            raise BadExport(f"The file is not valid JSON: {exc}.") from exc

    def _with_files(self, conversation: ImportedConversation) -> ImportedConversation:
        """Each file a message points to, matched to the ZIP member holding its bytes."""
        if not self.assets:
            return conversation
        for message in conversation.messages:
            for file in message.files:
                found = self.assets.get(file.source_id or "")
                if found is None:
                    continue
                member, size = found
                if self.max_file_bytes is not None and size > self.max_file_bytes:
                    conversation.problems.append(
                        f"file {member!r} is {size} bytes, over the {self.max_file_bytes} bytes "
                        "a file may have: not imported"
                    )
                    continue
                file.member = member
        return conversation

    async def member_chunks(self, name: str) -> AsyncIterator[bytes]:
        """A member's bytes, read in a worker thread, within the ZIP bomb limits."""
        archive = await asyncio.to_thread(zipfile.ZipFile, self.path)
        try:
            member = _open_member(archive, name)
            while chunk := await asyncio.to_thread(member.read, MEMBER_READ_BYTES):
                yield chunk
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise BadExport(f"{name} cannot be read from the ZIP: {exc}.") from exc
        finally:
            archive.close()


def open_export(path: Path, kind: SourceKind | None = None) -> Export:
    """Detect the format (or check `kind`) from the content; BadExport when it is none we read."""
    size = path.stat().st_size
    with path.open("rb") as raw:
        head = raw.read(4)
    if head == ZIP_MAGIC:
        export = _open_zip(path, kind)
    else:
        with path.open("rb") as raw:
            found = _detect_json(raw)
        if kind is not None and kind != found:
            raise BadExport(f"The file is a {found} export, not {kind}.")
        export = Export(path, found, progress=Progress(size))
    return export


def _items(stream: io.BufferedReader, kind: SourceKind) -> Iterator[dict[str, Any]]:
    if kind == "librechat":  # one conversation per file
        yield from ijson.items(stream, "", use_float=True)
    elif kind == "chatbotui":
        first = _first_char(stream)
        yield from ijson.items(stream, "item" if first == b"[" else "history.item", use_float=True)
    else:
        yield from ijson.items(stream, "item", use_float=True)


def _first_char(stream: io.BufferedReader) -> bytes:
    """The first non-blank byte (a BOM skipped), without consuming anything."""
    return stream.peek(64)[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def _detect_json(stream: io.BufferedReader) -> SourceKind:
    first = _first_char(stream)
    try:
        if first == b"[":
            for item in ijson.items(stream, "item", use_float=True):
                return detect(item, top_level_array=True)
            raise BadExport("The export holds no conversations.")
        if first == b"{":
            keys: dict[str, Any] = {}
            for prefix, event, value in ijson.parse(stream, use_float=True):
                if prefix == "" and event == "map_key":
                    keys[value] = True
                    if value in ("conversationId", "history", "version"):
                        break
            # Enough to tell the one-object formats apart.
            if "conversationId" in keys:
                return detect({"conversationId": 1, "messages": []}, top_level_array=False)
            if "history" in keys or "version" in keys:
                return detect({"history": [], "version": 1}, top_level_array=False)
    except ijson.JSONError as exc:
        raise BadExport(f"The file is not valid JSON: {exc}.") from exc
    except UnknownFormat as exc:
        raise BadExport(str(exc)) from exc
    raise BadExport(f"Not a chat export this server reads. Looked for {LOOKED_FOR}.")


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    drive = bool(path.parts) and ":" in path.parts[0]  # C:/...
    return not path.is_absolute() and ".." not in path.parts and not drive


def _open_member(
    archive: zipfile.ZipFile, name: str, progress: Progress | None = None
) -> io.BufferedReader:
    info = archive.getinfo(name)
    limit = min(info.file_size, max(info.compress_size, 1) * MAX_RATIO)
    if info.file_size > limit:
        raise BadExport(f"{name} inflates {MAX_RATIO}x past its size: refused as a ZIP bomb.")
    bounded = _Bounded(archive.open(info), info.file_size, name, progress or Progress(0))
    return io.BufferedReader(bounded)


def _open_zip(path: Path, kind: SourceKind | None) -> Export:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            unsafe = [i.filename for i in infos if not _safe_member(i.filename)]
            if unsafe:
                raise BadExport(f"The ZIP has a path that escapes it: {unsafe[0]!r}.")
            if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
                raise BadExport(f"The ZIP inflates past {MAX_UNZIPPED_BYTES} bytes.")
            names = [i.filename for i in infos]
            if genstore.is_account_export(names):
                if kind is not None and kind != "genstore":
                    raise BadExport(f"The file is a genstore export, not {kind}.")
                present = [n for n in (genstore.CONVERSATIONS, genstore.ARCHIVES) if n in names]
                total = sum(archive.getinfo(name).file_size for name in present)
                return Export(path, "genstore", progress=Progress(total))
            members = sorted(
                (n for n in names if _is_conversations_file(n)), key=_conversations_order
            )
            if not members:
                raise BadExport(
                    "The ZIP has no conversations.json (nor conversations-*.json). "
                    f"Looked for {LOOKED_FOR}."
                )
            with _open_member(archive, members[0]) as first:
                found = _detect_json(first)
            total = sum(archive.getinfo(name).file_size for name in members)
            assets = _assets(infos) if found == "chatgpt" else {}
    except zipfile.BadZipFile as exc:
        raise BadExport(f"The file is not a valid ZIP: {exc}.") from exc
    if kind is not None and kind != found:
        raise BadExport(f"The file is a {found} export, not {kind}.")
    return Export(path, found, members=members, progress=Progress(total), assets=assets)


def _assets(infos: list[zipfile.ZipInfo]) -> dict[str, tuple[str, int]]:
    """File id -> (member, size) for the members whose names start with a file id. A member
    is found under every prefix of its name that ends before a `-` or `.`: ids contain dashes
    (`file-AbC`), and the name goes on with `-` and the original name, or the extension."""
    assets: dict[str, tuple[str, int]] = {}
    for info in infos:
        base = PurePosixPath(info.filename).name
        if info.is_dir() or not base.startswith("file") or _is_conversations_file(base):
            continue
        for end, char in enumerate(base):
            if char in "-." and end > len("file"):
                assets.setdefault(base[:end], (info.filename, info.file_size))
        assets.setdefault(base, (info.filename, info.file_size))
    return assets


def _is_conversations_file(name: str) -> bool:
    base = PurePosixPath(name).name
    return base == "conversations.json" or (
        base.startswith("conversations-") and base.endswith(".json")
    )


def _conversations_order(name: str) -> tuple[int, str]:
    """conversations.json first, then conversations-000.json, -001, ... by number."""
    stem = PurePosixPath(name).stem
    number = stem.rpartition("-")[2]
    return (int(number) if number.isdigit() else -1, name)

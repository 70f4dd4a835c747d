"""Portable dumps: every collection as Extended JSON lines plus the blobs, with a manifest of
counts and checksums. `import` checks the whole dump before it writes anything.

Raw driver by design: a dump is the stored documents exactly as they are (canonical Extended
JSON, unknown fields included), which a document model would reshape."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import ObjectId, json_util

from app import storage
from app.auth.scoping import Scope
from app.database import get_db
from documents import ALL_DOCUMENTS
from documents.blob import FILES

FORMAT = "genstore-dump/1"
JSON_OPTIONS = json_util.CANONICAL_JSON_OPTIONS
BATCH = 500
READ_CHUNK = 1024 * 1024

Progress = Callable[[str, int], None]


class DumpError(Exception):
    pass


SECRET_FIELDS = {"key_hash", "password_hash", "token_hash"}


async def owned_json_lines(scope: Scope[Any]) -> AsyncIterator[bytes]:
    """One owner's documents of one collection as Extended JSON lines, without secrets (the
    account export)."""
    async for raw in scope.collection.find(scope.filter()):
        yield json_util.dumps({k: v for k, v in raw.items() if k not in SECRET_FIELDS}).encode()
        yield b"\n"


def dumped_collections() -> list[str]:
    """Every collection the app owns data in; blobs travel separately as files."""
    names = [model.get_settings().name for model in ALL_DOCUMENTS]
    return [*names, "migrations"]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(READ_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DumpSummary:
    collections: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    blob_bytes: int = 0


async def export_database(directory: Path, progress: Progress | None = None) -> DumpSummary:
    db = get_db()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "collections").mkdir(exist_ok=True)
    (directory / "blobs").mkdir(exist_ok=True)
    summary = DumpSummary()
    manifest: dict[str, Any] = {"format": FORMAT, "collections": {}, "blobs": []}
    for name in dumped_collections():
        path = directory / "collections" / f"{name}.jsonl"
        count = 0
        with path.open("w", encoding="utf-8") as out:
            async for raw in db[name].find({}).sort("_id", 1):
                out.write(json_util.dumps(raw, json_options=JSON_OPTIONS) + "\n")
                count += 1
                if progress and count % BATCH == 0:
                    progress(name, BATCH)
        if progress:
            progress(name, count % BATCH)
        summary.collections[name] = count
        manifest["collections"][name] = {"count": count, "sha256": _sha256_file(path)}
    for blob in await storage.all_blobs():
        relative = f"blobs/{blob.owner_id}/{blob.sha256}"
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            async for chunk in storage.open_blob(blob.owner_id, blob.sha256):
                out.write(chunk)
        manifest["blobs"].append(
            {
                "owner_id": str(blob.owner_id),
                "sha256": blob.sha256,
                "size": blob.size,
                "path": relative,
            }
        )
        summary.blobs += 1
        summary.blob_bytes += blob.size
        if progress:
            progress("blobs", 1)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return summary


def verify_dump(directory: Path) -> dict[str, Any]:
    """The manifest, once every file is present and matches its count and checksum."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise DumpError(f"{directory}/manifest.json is missing or not JSON") from exc
    if manifest.get("format") != FORMAT:
        raise DumpError(f"unknown dump format {manifest.get('format')!r}")
    for name, expected in manifest["collections"].items():
        path = directory / "collections" / f"{name}.jsonl"
        if not path.is_file():
            raise DumpError(f"collections/{name}.jsonl is missing")
        if _sha256_file(path) != expected["sha256"]:
            raise DumpError(f"collections/{name}.jsonl does not match its checksum")
        with path.open(encoding="utf-8") as lines:
            count = 0
            for number, line in enumerate(lines, start=1):
                try:
                    json_util.loads(line)
                except ValueError as exc:
                    raise DumpError(
                        f"collections/{name}.jsonl line {number} is not Extended JSON"
                    ) from exc
                count += 1
        if count != expected["count"]:
            raise DumpError(
                f"collections/{name}.jsonl has {count} documents, manifest says {expected['count']}"
            )
    for blob in manifest["blobs"]:
        path = directory / blob["path"]
        if not path.is_file() or path.stat().st_size != blob["size"]:
            raise DumpError(f"{blob['path']} is missing or has the wrong size")
        if _sha256_file(path) != blob["sha256"]:
            raise DumpError(f"{blob['path']} does not match its sha256")
    return manifest


async def database_is_empty() -> bool:
    db = get_db()
    for name in [*dumped_collections(), FILES]:
        if name == "migrations":
            continue
        if await db[name].find_one({}, {"_id": 1}) is not None:
            return False
    return True


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(READ_CHUNK), b""):
            yield block


async def import_database(
    directory: Path, *, force: bool, progress: Progress | None = None
) -> DumpSummary:
    manifest = verify_dump(directory)  # nothing is written unless the whole dump checks out
    if not force and not await database_is_empty():
        raise DumpError("the target database is not empty (use --force to import anyway)")
    db = get_db()
    summary = DumpSummary()
    for name in manifest["collections"]:
        batch: list[dict[str, Any]] = []
        count = 0
        with (directory / "collections" / f"{name}.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                batch.append(json_util.loads(line, json_options=JSON_OPTIONS))
                if len(batch) >= BATCH:
                    count += await _insert(db[name], batch, force)
                    if progress:
                        progress(name, len(batch))
                    batch = []
        if batch:
            count += await _insert(db[name], batch, force)
            if progress:
                progress(name, len(batch))
        summary.collections[name] = count
    for blob in manifest["blobs"]:
        owner_id = ObjectId(blob["owner_id"])
        async with storage.upload_lease(owner_id) as lease:
            await storage.put(owner_id, _file_chunks(directory / blob["path"]), lease=lease)
        summary.blobs += 1
        summary.blob_bytes += blob["size"]
        if progress:
            progress("blobs", 1)
    return summary


async def _insert(collection, documents: list[dict[str, Any]], force: bool) -> int:
    if not force:
        await collection.insert_many(documents, ordered=True)
        return len(documents)
    for document in documents:  # --force: documents already there are replaced
        await collection.replace_one({"_id": document["_id"]}, document, upsert=True)
    return len(documents)

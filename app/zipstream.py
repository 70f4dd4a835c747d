"""ZIP archives streamed to the client as they are written, never built in memory.

archive = ZipWriter()
yield archive.add_bytes("user.json", data)
async for part in archive.add_stream("blobs/x", storage.open_blob(owner, sha)):
    yield part
yield archive.finish()
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterable, AsyncIterator


class _Sink:
    """A write-only file for ZipFile whose bytes are taken out after each write."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


class ZipWriter:
    def __init__(self) -> None:
        self._sink = _Sink()
        self._archive = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED)  # type: ignore[arg-type]

    def add_bytes(self, name: str, data: bytes) -> bytes:
        self._archive.writestr(name, data)
        return self._sink.drain()

    async def add_stream(self, name: str, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        with self._archive.open(name, "w", force_zip64=True) as member:
            async for chunk in chunks:
                member.write(chunk)
                if len(self._sink.parts) > 16:
                    yield self._sink.drain()
        yield self._sink.drain()

    def finish(self) -> bytes:
        self._archive.close()
        return self._sink.drain()

"""Multipart uploads parsed while they stream: the file part's bytes go to the blob store as
they arrive, so memory does not grow with the file's size and an oversized upload is refused
(413) as soon as it passes the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

MAX_FIELD_BYTES = 4096
MAX_PARTS = 16


@dataclass
class MultipartUpload:
    """One file part named `file_field` plus small text fields."""

    request: Request
    file_field: str
    max_bytes: int
    filename: str | None = None
    content_type: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    saw_file: bool = False
    _pending: list[bytes] = field(default_factory=list)
    _header_field: bytearray = field(default_factory=bytearray)
    _header_value: bytearray = field(default_factory=bytearray)
    _headers: dict[str, str] = field(default_factory=dict)
    _current: str | None = None  # "file", a field name, or None for a part we ignore
    _field_value: bytearray = field(default_factory=bytearray)
    _parts: int = 0

    def _parser(self) -> MultipartParser:
        content_type = self.request.headers.get("content-type", "")
        kind, options = parse_options_header(content_type)
        if kind != b"multipart/form-data" or b"boundary" not in options:
            raise UnsupportedMediaType("Send the file as multipart/form-data.")
        declared = self.request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes + 64 * 1024:
            raise PayloadTooLarge(f"The file is larger than {self.max_bytes} bytes.")
        callbacks = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }
        return MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise Unprocessable("Too many parts in the upload.")
        self._headers = {}
        self._current = None
        self._field_value = bytearray()

    def _on_header_end(self) -> None:
        name = bytes(self._header_field).decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value).decode("latin-1")
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == self.file_field:
            if self.saw_file:
                raise Unprocessable(f"Send one `{self.file_field}` part.")
            self.saw_file = True
            self._current = "file"
            raw_name = options.get(b"filename")
            self.filename = raw_name.decode("utf-8", "replace") if raw_name else None
            self.content_type = self._headers.get("content-type")
        elif name:
            self._current = name

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current == "file":
            self._pending.append(bytes(data[start:end]))
        elif self._current is not None:
            self._field_value.extend(data[start:end])
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise Unprocessable(f"The `{self._current}` field is too long.")

    def _on_part_end(self) -> None:
        if self._current not in (None, "file"):
            try:
                self.fields[self._current] = bytes(self._field_value).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Unprocessable(f"The `{self._current}` field is not UTF-8.") from exc
        self._current = None

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file part's bytes as they arrive; the other fields are complete at the end."""
        parser = self._parser()
        try:
            async for chunk in self.request.stream():
                parser.write(chunk)
                if self._pending:
                    data = b"".join(self._pending)
                    self._pending.clear()
                    yield data
            parser.finalize()
        except ClientDisconnect as exc:
            raise BadRequest("The upload was cut off.") from exc
        except (Unprocessable, PayloadTooLarge):
            raise
        except Exception as exc:  # python-multipart's parse errors
            raise Unprocessable("The multipart body could not be parsed.") from exc
        if self._pending:
            yield b"".join(self._pending)
            self._pending.clear()
        if not self.saw_file:
            raise Unprocessable(
                f"The upload has no `{self.file_field}` part.", field=f"body.{self.file_field}"
            )

"""Stream a multipart upload straight to a file: the body is never held in memory.

Starlette's ``request.form()`` spools file parts to a temporary file and the store would
then copy it; here python-multipart's push parser writes the file part's bytes into the
destination as they arrive, and keeps only the small text fields (``purpose``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from respq.server.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELD_BYTES = 64 * 1024


@dataclass
class Upload:
    """What one multipart request carried."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    size: int = 0


class _Receiver:
    """python-multipart callbacks: headers of each part, then its data to file or field."""

    def __init__(self, target: Path, max_bytes: int) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.upload = Upload()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._file: IO[bytes] | None = None
        self._in_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self._headers.clear()
        self._value.clear()
        self._in_file = False

    def header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            return
        if self._file is not None:
            raise BadRequest("only one file may be uploaded per request", param="file")
        self._in_file = True
        self.upload.filename = os.path.basename(filename.decode("utf-8", "replace")) or "upload"
        self._file = self.target.open("wb")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self._file is not None
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than the limit of {self.max_bytes} bytes", param="file"
                )
            self._file.write(data[start:end])
        else:
            self._value.extend(data[start:end])
            if len(self._value) > MAX_FIELD_BYTES:
                raise BadRequest(f"form field {self._name!r} is too large", param=self._name)

    def part_end(self) -> None:
        if self._in_file:
            assert self._file is not None
            self._file.close()
        elif self._name:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def _discard(path: Path) -> None:
    # One unlink of a file this request created: too quick to be worth a thread.
    path.unlink(missing_ok=True)


async def receive_upload(
    content_type: str, body: AsyncIterator[bytes], target: Path, max_bytes: int
) -> Upload:
    """Parse a ``multipart/form-data`` body; its one file part is written to ``target``.

    ``target`` is removed again when the request fails or carries no file.
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("expected a multipart/form-data upload with a boundary")
    receiver = _Receiver(target, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        _discard(target)
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except BaseException:
        receiver.close()
        _discard(target)
        raise
    finally:
        receiver.close()
    if receiver.upload.filename is None:
        _discard(target)
        raise BadRequest("the request has no 'file' part", param="file")
    return receiver.upload

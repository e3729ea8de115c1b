"""Stream a multipart upload straight to a file: the body is never held in memory.

Starlette's ``request.form()`` spools file parts to a temporary file and the store would
then copy it; here python-multipart's push parser writes the file part's bytes into the
destination as they arrive, and keeps only the few small text fields (``purpose``).

An upload is complete or refused: a body that ends before the multipart closing boundary
(a client or proxy that cut it) is a 400 and leaves nothing behind, since the requests
after the cut would otherwise vanish without an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from respq.contract.errors import BadRequest, PayloadTooLarge, StorageFailed, StorageFull
from respq.producer.spool import is_no_space

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger("respq.server")

MAX_FIELD_BYTES = 64 * 1024
# The file, purpose, and OpenAI's optional fields (expires_after[anchor], [seconds]) with
# room to spare; a body of thousands of tiny fields is refused, not collected.
MAX_PARTS = 16


def storage_error(exc: OSError) -> StorageFailed:
    """The API error for a write ``RESPQ_FILES_DIR`` refused, logged as one line; the
    system's reason, never the path."""
    reason = exc.strerror or type(exc).__name__
    if is_no_space(exc):
        log.error("upload refused: RESPQ_FILES_DIR is full (%s)", reason)
        return StorageFull(
            f"The server's files directory (RESPQ_FILES_DIR) is full ({reason}); nothing was "
            "stored. Try again once space is freed.",
            code="insufficient_storage",
        )
    log.error("upload refused: RESPQ_FILES_DIR cannot be written (%s)", reason)
    return StorageFailed(
        f"The server's files directory (RESPQ_FILES_DIR) cannot be written ({reason}); "
        "nothing was stored.",
        code="storage_unavailable",
    )


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
        self.complete = False  # the closing boundary was read
        self._parts = 0
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
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise PayloadTooLarge(f"the form has more than {MAX_PARTS} parts")
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
        try:
            self._file = self.target.open("wb")
        except OSError as exc:
            raise storage_error(exc) from None

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self._file is not None
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than the limit of {self.max_bytes} bytes", param="file"
                )
            try:
                self._file.write(data[start:end])
            except OSError as exc:
                raise storage_error(exc) from None
        else:
            self._value.extend(data[start:end])
            if len(self._value) > MAX_FIELD_BYTES:
                raise PayloadTooLarge(f"form field {self._name!r} is too large", param=self._name)

    def part_end(self) -> None:
        if self._in_file:
            assert self._file is not None
            try:
                self._file.close()  # the last buffered bytes reach the disk here
            except OSError as exc:
                raise storage_error(exc) from None
        elif self._name:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def end(self) -> None:
        self.complete = True

    def discard(self) -> None:
        """Close and remove the file of a refused upload, whatever state the disk is in."""
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(OSError):
                self._file.close()
        # One unlink of a file this request created: too quick to be worth a thread.
        self.target.unlink(missing_ok=True)


async def receive_upload(
    content_type: str, body: AsyncIterator[bytes], target: Path, max_bytes: int
) -> Upload:
    """Parse a ``multipart/form-data`` body; its one file part is written to ``target``.

    ``target`` is removed again when the request fails, is cut short or carries no file.
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("expected a multipart/form-data upload with a boundary")
    receiver = _Receiver(target, max_bytes)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        if not receiver.complete:
            raise BadRequest(
                "the upload ended before the multipart body's closing boundary (the body was "
                "cut short); nothing was stored",
                param="file",
                code="incomplete_upload",
            )
        if receiver.upload.filename is None:
            raise BadRequest("the request has no 'file' part", param="file")
    except FormParserError as exc:
        receiver.discard()
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except BaseException:
        receiver.discard()
        raise
    return receiver.upload

"""Read a JSONL batch file once, streaming: validate every line, keeping each valid request
in a private spool; enqueue from the spool only once the whole file passed.

Memory stays bounded for files of millions of lines: validation keeps only the custom_ids
(for duplicate detection) and the first problems, and the prepared requests (custom_id,
model, depends_on, compact body) go to an unnamed temporary file, which the second pass
reads back without parsing or validating anything again. No line is ever read whole when it
is longer than the request size limit, so a file without newlines cannot exhaust memory.

What is enqueued is byte for byte what was validated: the user's file is read once, so it
may change afterwards without effect. A file whose size changes while it is being read is
refused (``FileChanged``) before anything is enqueued. Standard input is spooled to a
temporary file first, so it is read like any other file.

Both go under ``TMPDIR``: a disk that fills up there is ``SpoolFull``, one line naming
TMPDIR and about how much space the submit needs, before anything is enqueued.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import struct
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Final

from respq.contract.endpoints import DEFAULT_ENDPOINT, Endpoint
from respq.contract.errors import (
    CliError,
    FileChanged,
    InvalidFile,
    InvalidInput,
    SpoolFull,
)
from respq.producer.models_check import ModelUses
from respq.producer.validation import DEFAULT_MAX_REQUEST_BYTES, ItemPreparer, PreparedRequest

SPOOL_CHUNK: Final = 1 << 20
SPOOL_BUFFER: Final = 1 << 16
# Read past the size limit by this much: the line's own newline (``\r\n`` at most), so a
# line of exactly the limit is still read whole.
LINE_SLACK: Final = 2
SKIP_CHUNK: Final = 1 << 16  # the rest of an oversized line is skipped this much at a time


# The errors of a disk (or a quota) with no room left.
_NO_SPACE: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


def human_bytes(count: int) -> str:
    """1536 -> "1.5 KiB"; "about" sizes, for messages."""
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file: ``data`` without its newline, or None when the line is over
    the read bound (then only its ``size`` in bytes is known)."""

    lineno: int
    data: bytes | None
    size: int


# A spooled request: the byte lengths of its custom_id, model, depends_on and body, then
# those bytes. Private to one submit (never shared, never kept), so no version is needed.
_FRAME: Final = struct.Struct("<IIII")


def _new_spool() -> IO[bytes]:
    # Closed by CheckedFile.close; the buffer keeps the many small frames to few writes.
    return tempfile.TemporaryFile(buffering=SPOOL_BUFFER)


@dataclass
class CheckedFile:
    """A file that passed validation, with its valid requests in ``spool``. Close it (or
    use it as a context manager) when done; the spool has no name, so the system frees it
    even when the process dies."""

    path: Path
    requests: int
    lines: int
    models: ModelUses = field(default_factory=ModelUses)  # for --check-models
    spool: IO[bytes] = field(default_factory=_new_spool)
    endpoint: Endpoint = DEFAULT_ENDPOINT  # the batch's: every line names it

    def close(self) -> None:
        # Closing flushes; on a full disk that fails again, after the file is closed.
        with contextlib.suppress(OSError):
            self.spool.close()

    def __enter__(self) -> CheckedFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_lines(path: Path, max_line_bytes: int) -> Iterator[Line]:
    """Every non-blank line (blank lines still count), never holding more than
    ``max_line_bytes + LINE_SLACK`` bytes of one line in memory."""
    bound = max_line_bytes + LINE_SLACK
    with path.open("rb") as handle:
        lineno = 0
        while True:
            chunk = handle.readline(bound)
            if not chunk:
                return
            lineno += 1
            if chunk.endswith(b"\n") or len(chunk) < bound:
                data = chunk.rstrip(b"\r\n")
                if data.strip():
                    yield Line(lineno, data, len(data))
                continue
            yield Line(lineno, None, len(chunk) + _skip_rest_of_line(handle))


def _skip_rest_of_line(handle: BinaryIO) -> int:
    """Read up to the end of the current line without keeping it; the bytes skipped."""
    skipped = 0
    while True:
        chunk = handle.readline(SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _add(preparer: ItemPreparer, line: Line) -> PreparedRequest | None:
    if line.data is None:
        preparer.add_oversized(line.lineno, line.size)
        return None
    return preparer.add_line(line.data, line.lineno)


def _write(spool: IO[bytes], ready: PreparedRequest) -> None:
    cid, model = ready.custom_id.encode(), ready.model.encode()
    parent = (ready.depends_on or "").encode()
    spool.write(_FRAME.pack(len(cid), len(model), len(parent), len(ready.body)))
    spool.write(cid + model + parent + ready.body)


def check_file(
    path: Path,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    name: str | None = None,
    endpoint: Endpoint | None = None,
) -> CheckedFile:
    """Validate every line, spooling the valid requests; InvalidFile (an InvalidInput naming
    ``name``, by default the path) lists every bad one. Every line must be of ``endpoint``
    when given (the Batch API's), else of the first line's (a mixed file is invalid)."""
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    size = path.stat().st_size
    try:
        return _check_file(path, size, max_request_bytes, name, endpoint)
    except OSError as exc:
        if not is_no_space(exc):
            raise
        what = "the spool of validated requests"
        raise SpoolFull(what, f"{human_bytes(size)} (the input's size)") from None


def _check_file(
    path: Path, size: int, max_request_bytes: int, name: str | None, endpoint: Endpoint | None
) -> CheckedFile:
    preparer = ItemPreparer(max_request_bytes=max_request_bytes, endpoint=endpoint)
    checked = CheckedFile(path, 0, 0)
    try:
        spool = checked.spool
        for line in read_lines(path, max_request_bytes):
            checked.lines = line.lineno
            ready = _add(preparer, line)
            if ready is not None:
                checked.requests += 1
                checked.models.add(ready.model, f"line {line.lineno}", ready.custom_id)
                if not preparer.problems:  # once a line is bad, nothing will be enqueued
                    _write(spool, ready)
        if path.stat().st_size != size:
            changed = _changed(path, f"{size} bytes, then {path.stat().st_size} while validating")
            raise FileChanged(f"{changed}; nothing was enqueued")
        try:
            preparer.raise_if_bad()
        except InvalidInput as exc:
            raise InvalidFile(name or str(path), exc) from None
        if checked.requests == 0:
            raise CliError(f"{name or path} holds no requests")
        spool.flush()
        checked.endpoint = preparer.batch_endpoint
    except BaseException:
        checked.close()
        raise
    return checked


def _changed(path: Path, what: str) -> FileChanged:
    return FileChanged(
        f"{path} changed while it was being submitted ({what}); submit a file that nothing "
        "writes to (or a copy)"
    )


def _spooled(spool: IO[bytes]) -> Iterator[PreparedRequest]:
    spool.seek(0)
    header = _FRAME.size
    while frame := spool.read(header):
        sizes = _FRAME.unpack(frame)
        data = spool.read(sum(sizes))
        cid_end = sizes[0]
        model_end = cid_end + sizes[1]
        parent_end = model_end + sizes[2]
        yield PreparedRequest(
            data[:cid_end].decode(),
            data[parent_end:],
            data[cid_end:model_end].decode(),
            data[model_end:parent_end].decode() or None,
        )


async def prepared_requests(checked: CheckedFile) -> AsyncIterator[PreparedRequest]:
    """The validated requests of ``checked``, in file order, as the async iterable
    ``BatchClient.submit_prepared`` takes."""
    for item in _spooled(checked.spool):
        yield item


def _spool(source: BinaryIO, directory: str) -> Path:
    with tempfile.NamedTemporaryFile(
        "wb", dir=directory, prefix="respq-stdin-", suffix=".jsonl", delete=False
    ) as spool:
        try:
            shutil.copyfileobj(source, spool, SPOOL_CHUNK)
            spool.flush()
        except OSError as exc:
            if not is_no_space(exc):
                raise
            copied = spool.tell()
            # The copy's buffer still holds what did not fit: closing must not retry it.
            with contextlib.suppress(OSError):
                spool.close()
            raise SpoolFull(
                "the copy of standard input",
                f"twice the input's size (the copy, then the spool; it ran out after "
                f"{human_bytes(copied)})",
            ) from None
    return Path(spool.name)


@contextmanager
def input_file(name: str) -> Iterator[Path]:
    """The path to read; ``-`` spools standard input to a temporary file."""
    if name != "-":
        yield Path(name)
        return
    with tempfile.TemporaryDirectory(prefix="respq-") as directory:
        yield _spool(sys.stdin.buffer, directory)


def display_name(name: str) -> str:
    """How error messages name the input: the path as given, or standard input."""
    return "standard input" if name == "-" else name

"""Read a JSONL batch file twice, streaming: validate everything, then enqueue.

Memory stays bounded for files of millions of lines: the first pass keeps only the
custom_ids (for duplicate detection), the first problems and an 8-byte fingerprint per
line; the second pass re-reads the file and hands each request to ``submit_prepared`` as it
goes. No line is ever read whole when it is longer than the request size limit, so a file
without newlines cannot exhaust memory. Standard input cannot be read twice, so it is
spooled to a temporary file first.

The file may change between the passes (or during the second). The second pass checks the
size first and every line's fingerprint as it goes, and raises ``FileChanged`` on the first
difference, before the changed line reaches Redis: the batch is then never sealed, so
none of its jobs becomes visible to a worker (see ``submit.enqueue`` for the clean-up).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from array import array
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from producer.cli.app import CliError, InvalidFile
from producer.errors import InvalidInput
from producer.models_check import ModelUses
from producer.validation import DEFAULT_MAX_REQUEST_BYTES, ItemPreparer, PreparedRequest

SPOOL_CHUNK: Final = 1 << 20
# Read past the size limit by this much: the line's own newline (``\r\n`` at most), so a
# line of exactly the limit is still read whole.
LINE_SLACK: Final = 2
SKIP_CHUNK: Final = 1 << 16  # the rest of an oversized line is skipped this much at a time


class FileChanged(CliError):
    """The file's bytes differ from what the first pass validated."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file: ``data`` without its newline, or None when the line is over
    the read bound (then only its ``size`` in bytes is known)."""

    lineno: int
    data: bytes | None
    size: int


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the first pass, with what the second pass checks it against."""

    path: Path
    requests: int
    lines: int
    models: ModelUses = field(default_factory=ModelUses)  # for --check-models
    size: int = 0
    # hash((line number, bytes)) of each non-blank line, in order.
    fingerprints: array[int] = field(default_factory=lambda: array("q"))


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


def _fingerprint(line: Line) -> int:
    # The line number is part of it: a bare body's custom_id is line-<n>.
    return hash((line.lineno, line.data, line.size))


def check_file(
    path: Path, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, name: str | None = None
) -> CheckedFile:
    """First pass: validate every line; InvalidFile (an InvalidInput naming ``name``, by
    default the path) lists every bad one."""
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    preparer = ItemPreparer(max_request_bytes=max_request_bytes)
    requests = 0
    last = 0
    models = ModelUses()
    fingerprints: array[int] = array("q")
    size = path.stat().st_size
    for line in read_lines(path, max_request_bytes):
        last = line.lineno
        fingerprints.append(_fingerprint(line))
        ready = _add(preparer, line)
        if ready is not None:
            requests += 1
            models.add(ready.model, f"line {line.lineno}", ready.custom_id)
    if path.stat().st_size != size:
        changed = _changed(path, f"{size} bytes, then {path.stat().st_size} while validating")
        raise FileChanged(f"{changed}; nothing was enqueued")
    try:
        preparer.raise_if_bad()
    except InvalidInput as exc:
        raise InvalidFile(name or str(path), exc) from None
    if requests == 0:
        raise CliError(f"{name or path} holds no requests")
    return CheckedFile(path, requests, last, models, size, fingerprints)


class _Forgetful(set[str]):
    """A set that remembers nothing: duplicates were already ruled out by the first pass,
    so the second pass does not pay for a second set of every custom_id."""

    def add(self, element: str) -> None:
        return None


def _changed(path: Path, what: str) -> FileChanged:
    return FileChanged(
        f"{path} changed while it was being submitted ({what}); submit a file that nothing "
        "writes to (or a copy)"
    )


def _prepared(
    path: Path, max_request_bytes: int, checked: CheckedFile | None
) -> Iterator[PreparedRequest]:
    preparer = ItemPreparer(max_request_bytes=max_request_bytes)
    preparer.seen = _Forgetful()
    if checked is not None and path.stat().st_size != checked.size:
        raise _changed(path, f"{checked.size} bytes when validated, {path.stat().st_size} now")
    count = 0
    for line in read_lines(path, max_request_bytes):
        if checked is not None and (
            count >= len(checked.fingerprints) or checked.fingerprints[count] != _fingerprint(line)
        ):
            raise _changed(path, f"line {line.lineno} differs from the validated one")
        count += 1
        ready = _add(preparer, line)
        if ready is None:
            # Without fingerprints to compare, a line that no longer validates is the sign.
            raise _changed(path, f"line {line.lineno} is no longer valid")
        yield ready
    if checked is not None and count != len(checked.fingerprints):
        raise _changed(path, f"{len(checked.fingerprints) - count} line(s) fewer")


async def prepared_requests(
    path: Path,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    checked: CheckedFile | None = None,
) -> AsyncIterator[PreparedRequest]:
    """Second pass, as the async iterable ``BatchClient.submit_prepared`` takes. With
    ``checked`` (the first pass's result) every line must be the one validated, else
    FileChanged is raised before that line is handed on."""
    for item in _prepared(path, max_request_bytes, checked):
        yield item


def _spool(source: BinaryIO, directory: str) -> Path:
    with tempfile.NamedTemporaryFile(
        "wb", dir=directory, prefix="respq-stdin-", suffix=".jsonl", delete=False
    ) as spool:
        shutil.copyfileobj(source, spool, SPOOL_CHUNK)
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

"""Read a JSONL batch file once, streaming: validate every line, keeping each valid request
in a private spool (``respq.producer.spool``); enqueue from the spool only once the whole
file passed. ``respq submit``, ``respq estimate`` and the Batch API's uploads all read their
files here.

Memory stays bounded for files of millions of lines: validation keeps only the custom_ids
(for duplicate detection) and the first problems, and the prepared requests (custom_id,
model, depends_on, compact body) go to the spool, which the second pass reads back without
parsing or validating anything again. No line is ever read whole when it is longer than the
request size limit, so a file without newlines cannot exhaust memory.

What is enqueued is byte for byte what was validated: the user's file is read once, so it
may change afterwards without effect. A file whose size changes while it is being read is
refused (``FileChanged``), one without a request is ``EmptyFile``, and a spool that finds
no room under TMPDIR is ``SpoolFull``: each before anything is enqueued.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Final

from respq.contract.endpoints import DEFAULT_ENDPOINT, Endpoint
from respq.contract.errors import (
    EmptyFile,
    FileChanged,
    InvalidFile,
    InvalidInput,
    SpoolFull,
)
from respq.contract.prices import PriceTable
from respq.producer import spool as spools
from respq.producer.estimate import BatchEstimate, Estimator, estimate_prepared
from respq.producer.models_check import ModelUses
from respq.producer.validation import DEFAULT_MAX_REQUEST_BYTES, ItemPreparer, PreparedRequest

# Read past the size limit by this much: the line's own newline (``\r\n`` at most), so a
# line of exactly the limit is still read whole.
LINE_SLACK: Final = 2
SKIP_CHUNK: Final = 1 << 16  # the rest of an oversized line is skipped this much at a time


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file: ``data`` without its newline, or None when the line is over
    the read bound (then only its ``size`` in bytes is known)."""

    lineno: int
    data: bytes | None
    size: int


@dataclass
class CheckedFile:
    """A file that passed validation, with its valid requests in ``spool``. Close it (or
    use it as a context manager) when done; the spool has no name, so the system frees it
    even when the process dies."""

    path: Path
    requests: int
    lines: int
    models: ModelUses = field(default_factory=ModelUses)  # for --check-models
    spool: IO[bytes] = field(default_factory=spools.new_spool)
    endpoint: Endpoint = DEFAULT_ENDPOINT  # the batch's: every line names it

    def prepared(self) -> Iterator[PreparedRequest]:
        """The validated requests, in file order."""
        return spools.read_requests(self.spool)

    def estimate(
        self, *, default_max_output_tokens: int, prices: PriceTable | None
    ) -> BatchEstimate:
        """What the batch would ask for (``respq.producer.estimate``), from the spool."""
        return estimate_prepared(
            self.prepared(),
            default_max_output_tokens=default_max_output_tokens,
            endpoint=self.endpoint,
            prices=prices,
        )

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


def check_file(
    path: Path,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    name: str | None = None,
    endpoint: Endpoint | None = None,
    estimator: Estimator | None = None,
) -> CheckedFile:
    """Validate every line, spooling the valid requests. InvalidFile (an InvalidInput naming
    ``name``, by default the path) lists every bad one; EmptyFile, FileChanged and SpoolFull
    say why else nothing can be enqueued. Every line must be of ``endpoint`` when given (the
    Batch API's), else of the first line's (a mixed file is invalid)."""
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    size = path.stat().st_size
    try:
        return _check_file(path, size, max_request_bytes, name, endpoint, estimator)
    except OSError as exc:
        if not spools.is_no_space(exc):
            raise
        what = "the spool of validated requests"
        raise SpoolFull(what, f"{spools.human_bytes(size)} (the input's size)") from None


def _check_file(
    path: Path,
    size: int,
    max_request_bytes: int,
    name: str | None,
    endpoint: Endpoint | None,
    estimator: Estimator | None,
) -> CheckedFile:
    preparer = ItemPreparer(max_request_bytes=max_request_bytes, endpoint=endpoint)
    if estimator is not None:  # estimated in this pass, from the bodies validation parsed
        preparer.on_valid = estimator.add_body
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
                    spools.write_request(spool, ready)
        if path.stat().st_size != size:
            changed = _changed(path, f"{size} bytes, then {path.stat().st_size} while validating")
            raise FileChanged(f"{changed}; nothing was enqueued")
        try:
            preparer.raise_if_bad()
        except InvalidInput as exc:
            raise InvalidFile(name or str(path), exc) from None
        if checked.requests == 0:
            raise EmptyFile(f"{name or path} holds no requests")
        spool.flush()
        checked.endpoint = preparer.batch_endpoint
    except BaseException:
        checked.close()
        raise
    return checked


def _changed(path: Path, what: str) -> str:
    return (
        f"{path} changed while it was being submitted ({what}); submit a file that nothing "
        "writes to (or a copy)"
    )


async def prepared_requests(checked: CheckedFile) -> AsyncIterator[PreparedRequest]:
    """The validated requests of ``checked``, in file order, as the async iterable
    ``BatchClient.submit_prepared`` takes."""
    for item in checked.prepared():
        yield item

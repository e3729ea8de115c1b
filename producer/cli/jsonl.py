"""Read a JSONL batch file twice, streaming: validate everything, then enqueue.

Memory stays bounded for files of millions of lines: the first pass keeps only the
custom_ids (for duplicate detection) and the first problems; the second pass re-reads the
file and hands each request to ``submit_prepared`` as it goes. Standard input cannot be
read twice, so it is spooled to a temporary file first.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from producer.cli.app import CliError
from producer.models_check import ModelUses
from producer.validation import DEFAULT_MAX_REQUEST_BYTES, ItemPreparer, PreparedRequest

SPOOL_CHUNK = 1 << 20


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the first pass."""

    path: Path
    requests: int
    lines: int
    models: ModelUses = field(default_factory=ModelUses)  # for --check-models


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every non-blank line; blank lines still count."""
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if raw.strip():
                yield lineno, raw


def check_file(path: Path, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> CheckedFile:
    """First pass: validate every line; InvalidInput naming every bad one."""
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    preparer = ItemPreparer(max_request_bytes=max_request_bytes)
    requests = 0
    lineno = 0
    models = ModelUses()
    for lineno, raw in _lines(path):
        ready = preparer.add_line(raw, lineno)
        if ready is not None:
            requests += 1
            models.add(ready.model, f"line {lineno}", ready.custom_id)
    preparer.raise_if_bad()
    if requests == 0:
        raise CliError(f"{path} holds no requests")
    return CheckedFile(path, requests, lineno, models)


class _Forgetful(set[str]):
    """A set that remembers nothing: duplicates were already ruled out by the first pass,
    so the second pass does not pay for a second set of every custom_id."""

    def add(self, element: str) -> None:
        return None


def _prepared(path: Path, max_request_bytes: int) -> Iterator[PreparedRequest]:
    preparer = ItemPreparer(max_request_bytes=max_request_bytes)
    preparer.seen = _Forgetful()
    for lineno, raw in _lines(path):
        ready = preparer.add_line(raw, lineno)
        if ready is None:
            # The file changed between the passes; stop rather than enqueue a guess.
            raise CliError(f"{path} changed while it was being submitted (line {lineno})")
        yield ready


async def prepared_requests(
    path: Path, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
) -> AsyncIterator[PreparedRequest]:
    """Second pass, as the async iterable ``BatchClient.submit_prepared`` takes."""
    for item in _prepared(path, max_request_bytes):
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

"""The FILE argument of ``respq submit``, ``estimate`` and ``run``: a path, or ``-`` for
standard input, which is copied to a temporary file first (``respq.producer.spool``) so
that it is read like any other file."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from respq.producer.spool import copy_stream


@contextmanager
def input_file(name: str) -> Iterator[Path]:
    """The path to read; ``-`` spools standard input to a temporary file."""
    if name != "-":
        yield Path(name)
        return
    with tempfile.TemporaryDirectory(prefix="respq-") as directory:
        yield copy_stream(sys.stdin.buffer, directory, "the copy of standard input")


def display_name(name: str) -> str:
    """How error messages name the input: the path as given, or standard input."""
    return "standard input" if name == "-" else name

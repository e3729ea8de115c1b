"""The spool: a private temporary file that keeps a file's validated requests between the
two passes of a submit, and the copy of a stream (standard input) that is then read as a
file.

Both go under ``TMPDIR``: a disk that fills up there is ``SpoolFull``, one line naming
TMPDIR and about how much space the submit needs, before anything is enqueued.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO, Final

from respq.contract.errors import SpoolFull
from respq.producer.validation import PreparedRequest

COPY_CHUNK: Final = 1 << 20
SPOOL_BUFFER: Final = 1 << 16

# The errors of a disk (or a quota) with no room left.
_NO_SPACE: Final = frozenset({errno.ENOSPC, errno.EDQUOT})

# A spooled request: the byte lengths of its custom_id, model, depends_on and body, then
# those bytes. Private to one submit (never shared, never kept), so no version is needed.
_FRAME: Final = struct.Struct("<IIII")


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


def new_spool() -> IO[bytes]:
    """An unnamed temporary file: the system frees it even when the process dies. The
    buffer keeps the many small frames to few writes."""
    return tempfile.TemporaryFile(buffering=SPOOL_BUFFER)


def write_request(spool: IO[bytes], ready: PreparedRequest) -> None:
    cid, model = ready.custom_id.encode(), ready.model.encode()
    parent = (ready.depends_on or "").encode()
    spool.write(_FRAME.pack(len(cid), len(model), len(parent), len(ready.body)))
    spool.write(cid + model + parent + ready.body)


def read_requests(spool: IO[bytes]) -> Iterator[PreparedRequest]:
    """Every request written to ``spool``, in order, without parsing anything again."""
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


def copy_stream(source: BinaryIO, directory: str, what: str) -> Path:
    """``source`` copied whole into a new file under ``directory`` (which the caller
    removes); SpoolFull names ``what`` when the disk fills up."""
    with tempfile.NamedTemporaryFile(
        "wb", dir=directory, prefix="respq-stdin-", suffix=".jsonl", delete=False
    ) as copy:
        try:
            shutil.copyfileobj(source, copy, COPY_CHUNK)
            copy.flush()
        except OSError as exc:
            if not is_no_space(exc):
                raise
            copied = copy.tell()
            # The copy's buffer still holds what did not fit: closing must not retry it.
            with contextlib.suppress(OSError):
                copy.close()
            raise SpoolFull(
                what,
                f"twice the input's size (the copy, then the spool; it ran out after "
                f"{human_bytes(copied)})",
            ) from None
    return Path(copy.name)

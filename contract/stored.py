"""How an output line is kept in ``respq:{B}:res``: a success compressed, a failure as JSON.

Successes are most of a batch and most of its Redis memory: a Response body is 1–1.5 KB of
JSON whose field names and shape repeat from line to line. zstd with a fixed dictionary of
Response lines (seven providers' shapes, ``data/line_dictionary_v1.jsonl``) keeps one in
about a tenth of that, for a few microseconds of worker CPU.

Failure lines stay plain JSON because Lua reads them: ``retry.lua`` picks failures by
their code, and a child's parent by whether it failed. The first byte tells the two apart:
``{`` starts a JSON line, ``PACKED_V1`` a compressed success (a magicless zstd frame made
with dictionary v1). A reader only ever calls ``unpack``; the bytes it returns are the
line exactly as the worker built it.

The dictionary is part of the stored format: changing a byte of it makes every line
packed with it unreadable. A new dictionary gets a new first byte, and ``unpack`` keeps
reading the old one until no batch can still hold it.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.resources import files
from typing import Final

import zstandard

from respq.contract.errors import RespqError

JSON_START: Final = b"{"[0]
PACKED_V1: Final = 1  # the first byte of a success line compressed with dictionary v1

# Measured on mockapi's answers: level 1 packs a line in ~6 µs to within 4 % of level 3's
# size; level 6 saves 20 % more bytes for twice the CPU. Workers pay it per success.
_LEVEL: Final = 1


class StoredLineError(RespqError):
    """A stored result is neither a JSON line nor a packed one this version can read."""


@cache
def _dictionary_bytes() -> bytes:
    return files("respq.contract").joinpath("data/line_dictionary_v1.jsonl").read_bytes()


class _Codec(threading.local):
    """One zstd compressor and decompressor per thread: a zstd context must never be used
    by two threads at once (``respq serve`` reads results on its event loop while its
    upload pipeline runs in a thread)."""

    def __init__(self) -> None:
        dictionary = zstandard.ZstdCompressionDict(
            _dictionary_bytes(), dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        self.compressor = zstandard.ZstdCompressor(
            level=_LEVEL,
            dict_data=dictionary,
            write_checksum=False,
            write_content_size=True,
            write_dict_id=False,
        )
        # Stored frames have no magic (the first byte says what follows): read them as such.
        self.decompressor = zstandard.ZstdDecompressor(
            dict_data=dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS
        )


_codec = _Codec()


_MAGIC_SIZE: Final = 4  # zstd's frame magic, dropped from what is stored
_PACKED_PREFIX: Final = bytes((PACKED_V1,))


def pack_success(line: bytes) -> bytes:
    """What to store for a success line (its JSON bytes)."""
    frame = _codec.compressor.compress(line)
    return _PACKED_PREFIX + frame[_MAGIC_SIZE:]


def unpack(stored: bytes) -> bytes:
    """The output line's JSON bytes from what ``respq:{B}:res`` holds."""
    if not stored or stored[0] == JSON_START:
        return stored
    if stored[0] == PACKED_V1:
        try:
            return _codec.decompressor.decompress(memoryview(stored)[1:])
        except zstandard.ZstdError as exc:
            raise StoredLineError(f"a packed result line is corrupt: {exc}") from exc
    raise StoredLineError(f"a stored result line starts with unknown byte {stored[0]:#04x}")

"""How an output line is kept in ``respq:{B}:res``: a success compressed, a failure as JSON.

Successes are most of a batch and most of its Redis memory: a Response or chat completion
body is 1–1.5 KB of JSON whose field names and shape repeat from line to line. zstd with a
fixed dictionary of answer lines (``data/line_dictionary_v2.jsonl``: Responses of seven
providers, chat completions, completions, moderations, embedding lists) keeps one in about
a tenth of that, for a few microseconds of worker CPU. Embedding vectors are mostly
numbers no dictionary knows: they are kept apart from the rest of the line
(``respq.contract.vectors``), as float32 when every value is one (what OpenAI, vLLM and the like
send), else as packed digits, and base64 vectors as their bytes.

Failure lines stay plain JSON because Lua reads them: ``retry.lua`` picks failures by
their code, and a child's parent by whether it failed. The first byte tells the two apart:
``{`` starts a JSON line, anything else a packed success:

- ``PACKED_V1`` (1): a magicless zstd frame made with dictionary v1 (written by the first
  version; still read, never written).
- ``PACKED_V2`` (2): a magicless zstd frame made with dictionary v2.
- ``PACKED_V2_VECTORS`` (3): the line's skeleton, its vectors each replaced by a
  placeholder, as a ``PACKED_V2`` frame, then the vectors (``respq.contract.vectors``).

A reader only ever calls ``unpack``; the bytes it returns are the line exactly as the
worker built it. A dictionary is part of the stored format: changing a byte of it makes
every line packed with it unreadable. A new dictionary gets a new first byte, and
``unpack`` keeps reading the old ones until no batch can still hold them.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.resources import files
from typing import Any, Final

import orjson
import zstandard

from respq.contract.errors import StoredLineError, VectorError
from respq.contract.lines import is_success
from respq.contract.vectors import PLACEHOLDER, pack_vectors, read_vectors, skeleton

JSON_START: Final = b"{"[0]
PACKED_V1: Final = 1  # a success line compressed with dictionary v1 (read only)
PACKED_V2: Final = 2  # a success line compressed with dictionary v2
PACKED_V2_VECTORS: Final = 3  # a v2 skeleton, then the line's vectors apart

# Measured on mockapi's answers: level 1 packs a line in ~6 µs to within 4 % of level 3's
# size; level 6 saves 20 % more bytes for twice the CPU. Workers pay it per success.
_LEVEL: Final = 1
_DICTIONARIES: Final = {
    PACKED_V1: "line_dictionary_v1.jsonl",
    PACKED_V2: "line_dictionary_v2.jsonl",
}


@cache
def _dictionary_bytes(version: int = PACKED_V2) -> bytes:
    return files("respq.contract").joinpath("data/" + _DICTIONARIES[version]).read_bytes()


def _dictionary(version: int) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(
        _dictionary_bytes(version), dict_type=zstandard.DICT_TYPE_RAWCONTENT
    )


class _Codec(threading.local):
    """One zstd compressor and decompressor per thread and dictionary: a zstd context
    must never be used by two threads at once (``respq serve`` reads results on its event
    loop while its upload pipeline runs in a thread). Only the current dictionary is
    ever compressed with; the old one is loaded when a line needs it."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(
            level=_LEVEL,
            dict_data=_dictionary(PACKED_V2),
            write_checksum=False,
            write_content_size=True,
            write_dict_id=False,
        )
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def decompressor(self, version: int) -> zstandard.ZstdDecompressor:
        found = self.decompressors.get(version)
        if found is None:
            # Stored frames have no magic (the first byte says what follows).
            found = zstandard.ZstdDecompressor(
                dict_data=_dictionary(version), format=zstandard.FORMAT_ZSTD1_MAGICLESS
            )
            self.decompressors[version] = found
        return found


_codec = _Codec()


_MAGIC_SIZE: Final = 4  # zstd's frame magic, dropped from what is stored
_V2_PREFIX: Final = bytes((PACKED_V2,))
_VECTORS_PREFIX: Final = bytes((PACKED_V2_VECTORS,))


def _frame(data: bytes) -> bytes:
    return _codec.compressor.compress(data)[_MAGIC_SIZE:]


def pack_success(line: bytes) -> bytes:
    """What to store for a success line given as its JSON bytes: packed whole."""
    return _V2_PREFIX + _frame(line)


def pack_answer(line: dict[str, Any]) -> bytes:
    """What to store for a success line given as the dict the worker built; ``unpack``
    gives back ``orjson.dumps(line)``. An embeddings answer keeps its vectors apart (and
    is never dumped whole: a 1,536-float vector is ~30 KB of text)."""
    shape = skeleton(line)
    if shape is None:
        return pack_success(orjson.dumps(line))
    frame = _frame(shape.json)
    return _VECTORS_PREFIX + pack_vectors(len(frame), shape.vectors) + frame


def pack_line(line: dict[str, Any]) -> bytes:
    """What ``respq:{B}:res`` keeps for an output line: a success packed (pack_answer), a
    failure its JSON, which the Lua scripts read."""
    return pack_answer(line) if is_success(line) else orjson.dumps(line)


def _decompress(version: int, frame: bytes | memoryview) -> bytes:
    try:
        return _codec.decompressor(version).decompress(frame)
    except zstandard.ZstdError as exc:
        raise StoredLineError(f"a packed result line is corrupt: {exc}") from exc


def unpack(stored: bytes) -> bytes:
    """The output line's JSON bytes from what ``respq:{B}:res`` holds."""
    if not stored or stored[0] == JSON_START:
        return stored
    kind = stored[0]
    view = memoryview(stored)[1:]
    if kind in _DICTIONARIES:
        return _decompress(kind, view)
    if kind == PACKED_V2_VECTORS:
        try:
            frame_size, texts, end = read_vectors(view)
        except VectorError as exc:
            raise StoredLineError(f"a packed result line is corrupt: {exc}") from exc
        parts = _decompress(PACKED_V2, view[end : end + frame_size]).split(PLACEHOLDER)
        if len(parts) != len(texts) + 1:
            raise StoredLineError("a packed result line is corrupt: its vectors do not fit")
        out = [parts[0]]
        for text, part in zip(texts, parts[1:], strict=True):
            out += (text, part)
        return b"".join(out)
    raise StoredLineError(f"a stored result line starts with unknown byte {kind:#04x}")

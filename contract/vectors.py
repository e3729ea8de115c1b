"""Embedding vectors kept apart from the rest of a stored line (``respq.contract.stored``).

A vector of 1,536 numbers is ~30 KB of JSON digits that no dictionary knows; zstd keeps
about half of it. Here each vector becomes, in order of preference:

- ``FLOAT32``: its values as little-endian float32 bytes, when every value is a float
  that float32 holds exactly, as OpenAI, vLLM and most servers send them (4 bytes a
  value, a fifth of the JSON). It is written back with the same encoder that wrote the
  line (orjson), from the same float values, so it reads back byte for byte. The usual
  vector is judged from the bytes ``marshal`` writes for it (each value's type and
  float64 bits) rather than value by value in Python: a worker does it per answer.
- ``DIGITS``: its JSON text between the brackets, two characters a byte (the text of
  numbers uses 15 characters: digits, ``-``, ``.``, ``e``, ``+`` and ``,``), for any
  other list of numbers: half the JSON, exactly as written.
- ``BASE64``: the bytes a base64 vector (``encoding_format: base64``) encodes, when the
  text is their canonical base64 (three quarters of the JSON).

In the line, each vector is replaced by the placeholder string ``"\\u0000"``; the line
is packed only when the placeholders found in its JSON are exactly its vectors, so a
body that holds that string itself is simply packed whole.

Layout after the kind byte: varint frame size, varint vector count, then per vector a
kind byte, a varint payload size and the payload; the skeleton's zstd frame follows.
"""

from __future__ import annotations

import base64
import binascii
import marshal
import struct
from dataclasses import dataclass
from typing import Any, Final

import orjson

from respq.contract.errors import VectorError

FLOAT32: Final = 0
DIGITS: Final = 1
BASE64: Final = 2
MARK: Final = "\x00"
PLACEHOLDER: Final = orjson.dumps(MARK)  # b'"\\u0000"'

# DIGITS: the characters of JSON numbers as hex digits, two to a byte ("f" pads).
_NUMBER_CHARS: Final = b"0123456789-.e+,"
_TO_HEX: Final = bytes.maketrans(b"-.e+,", b"abcde")
_FROM_HEX: Final = bytes.maketrans(b"abcde", b"-.e+,")


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A line's JSON with each vector replaced by the placeholder, and the vectors."""

    json: bytes
    vectors: list[tuple[int, bytes]]


# How ``marshal`` (version 2: no back-references) writes a list of floats: "[" and the
# count (4 bytes), then an item a value: "g" and its float64, little-endian. One C pass
# shows every value's type and bits, so the test below is bytes slices, not a Python step
# a value.
_MARSHAL_VERSION: Final = 2
_LIST_HEAD: Final = 5
_ITEM: Final = 9
_FLOAT: Final = b"g"
# An item that is 0.0 or -0.0. Removing them from the items cannot cut one elsewhere: an
# item starts with "g", so any other 9 bytes that match would take the next item's "g" for
# one of their zeros.
_ZERO_ITEMS: Final = (_FLOAT + bytes(8), _FLOAT + bytes(7) + b"\x80")
_ZERO: Final = b"\x00"
_LOW_BITS_CLEAR: Final = bytes(range(0, 256, 32))  # byte 3 with its 5 mantissa bits 0
# Byte 7 is the sign and the exponent's top 7 bits: 0x39–0x46 (either sign) is
# 2**-111 <= |x| < 2**113, inside float32's normal range with room to spare.
_NORMAL_TOP: Final = bytes([*range(0x39, 0x47), *range(0xB9, 0xC7)])


def _plain_float32(values: list[Any]) -> bool:
    """Every value is a float that float32 holds exactly, decided for the usual vector
    without a Python step a value. False is no verdict: tiny or huge values and ints are
    left to ``_float32_checked``."""
    try:
        items = marshal.dumps(values, _MARSHAL_VERSION)[_LIST_HEAD:]
    except ValueError:  # a list subclass, or values marshal does not take
        return False
    if len(items) != _ITEM * len(values) or items[::_ITEM] != _FLOAT * len(values):
        return False  # not only floats
    if _float32_items(items):
        return True
    for zero in _ZERO_ITEMS:
        items = items.replace(zero, b"")
    return _float32_items(items)


def _float32_items(items: bytes) -> bool:
    """Every float64 of marshal's items has its 29 lowest mantissa bits 0 and an exponent
    well inside float32's range: a float32 exactly."""

    def only(byte: int, allowed: bytes) -> bool:
        return not items[1 + byte :: _ITEM].translate(None, allowed)

    return (
        only(0, _ZERO)
        and only(1, _ZERO)
        and only(2, _ZERO)
        and only(3, _LOW_BITS_CLEAR)
        and only(7, _NORMAL_TOP)
    )


def _float32_checked(values: list[Any]) -> bytes | None:
    """The float32 bytes of any list float32 holds exactly, by packing and reading back."""
    if set(map(type, values)) != {float}:  # an int would come back as a float
        return None
    layout = f"<{len(values)}f"
    try:
        packed = struct.pack(layout, *values)
    except OverflowError:  # beyond float32's range
        return None
    if struct.unpack(layout, packed) != tuple(values):  # a value float32 does not hold
        return None
    return packed


def _float32(values: list[Any]) -> bytes | None:
    if _plain_float32(values):
        return struct.pack(f"<{len(values)}f", *values)
    return _float32_checked(values)


def _digits(values: list[Any]) -> bytes | None:
    text = orjson.dumps(values)[1:-1]
    if text.translate(None, _NUMBER_CHARS):
        return None  # not just numbers (null, strings, nesting)
    hexed = text.translate(_TO_HEX)
    return binascii.unhexlify(hexed + b"f" if len(hexed) % 2 else hexed)


def _base64(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw) == text.encode() else None


def pack_vector(value: Any) -> tuple[int, bytes] | None:
    """(kind, payload) for one embedding value; None when it is kept in the line."""
    if isinstance(value, list) and value:
        packed = _float32(value)
        if packed is not None:
            return FLOAT32, packed
        digits = _digits(value)
        return None if digits is None else (DIGITS, digits)
    if isinstance(value, str) and value:
        raw = _base64(value)
        return None if raw is None else (BASE64, raw)
    return None


def skeleton(line: dict[str, Any]) -> Skeleton | None:
    """The skeleton of an embeddings answer's line (``response.body.data[].embedding``);
    None for any other line, or when no vector is worth keeping apart."""
    response = line.get("response")
    body = response.get("body") if isinstance(response, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    vectors: list[tuple[int, bytes]] = []
    items: list[Any] = []
    for item in data:
        packed = pack_vector(item.get("embedding")) if isinstance(item, dict) else None
        if packed is None:
            items.append(item)
        else:
            vectors.append(packed)
            items.append({**item, "embedding": MARK})  # same key, same place
    if not vectors:
        return None
    assert isinstance(response, dict) and isinstance(body, dict)
    shape = orjson.dumps({**line, "response": {**response, "body": {**body, "data": items}}})
    if shape.count(PLACEHOLDER) != len(vectors):
        return None  # the body holds the placeholder itself: pack the line whole
    return Skeleton(shape, vectors)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(view: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(view):
            raise VectorError("cut short")
        byte = view[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def pack_vectors(frame_size: int, vectors: list[tuple[int, bytes]]) -> bytes:
    """The header and vectors that precede a skeleton's frame of ``frame_size`` bytes."""
    out = [_varint(frame_size), _varint(len(vectors))]
    for kind, payload in vectors:
        out += (bytes((kind,)), _varint(len(payload)), payload)
    return b"".join(out)


def _text(kind: int, payload: memoryview) -> bytes:
    if kind == FLOAT32:
        if len(payload) % 4:
            raise VectorError("a float32 vector of a size no float32 list has")
        return orjson.dumps(struct.unpack(f"<{len(payload) // 4}f", payload))
    if kind == DIGITS:
        text = binascii.hexlify(payload)
        if text.endswith(b"f"):
            text = text[:-1]
        return b"[" + text.translate(_FROM_HEX) + b"]"
    if kind == BASE64:
        return b'"' + base64.b64encode(payload) + b'"'
    raise VectorError(f"unknown vector kind {kind}")


def read_vectors(view: memoryview) -> tuple[int, list[bytes], int]:
    """(frame size, each vector's JSON text, where the frame starts) from ``view``."""
    frame_size, at = _read_varint(view, 0)
    count, at = _read_varint(view, at)
    texts: list[bytes] = []
    for _ in range(count):
        if at >= len(view):
            raise VectorError("cut short")
        kind = view[at]
        size, at = _read_varint(view, at + 1)
        if at + size > len(view):
            raise VectorError("cut short")
        texts.append(_text(kind, view[at : at + size]))
        at += size
    if at + frame_size != len(view):
        raise VectorError("its parts do not add up")
    return frame_size, texts, at

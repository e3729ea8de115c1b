"""Embeddings and Moderations answers, deterministic: the same input gets the same vector
and the same verdict.

A vector is a fixed table of float32 values (unit length, as OpenAI's are), turned by a
hash of its input: a rotation and a sign. Values are float32 numbers printed as float64,
as OpenAI prints them; ``encoding_format: base64`` sends the little-endian float32 bytes
in base64. The table is printed (and packed) once per dimension and sign, and an answer
slices that text at the turn: an answer costs no number made or printed per value, as a
real provider's costs the benchmark's machine nothing (the mock must not be what limits a
benchmark of the worker beside it).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from array import array
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import orjson

from .generate import count_tokens, new_id

JSON = dict[str, Any]
DEFAULT_DIMENSIONS = 1536
MODEL_DIMENSIONS = {"text-embedding-3-large": 3072}
MODERATION_MODEL = "omni-moderation-latest"
# The categories of OpenAI's moderation results; a word flags its category.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "harassment": ("idiot",),
    "harassment/threatening": (),
    "hate": (),
    "hate/threatening": (),
    "illicit": ("steal",),
    "illicit/violent": (),
    "self-harm": (),
    "self-harm/instructions": (),
    "self-harm/intent": (),
    "sexual": (),
    "sexual/minors": (),
    "violence": ("kill", "attack"),
    "violence/graphic": (),
}
IMAGE_CATEGORIES = frozenset(
    {
        "self-harm",
        "self-harm/instructions",
        "self-harm/intent",
        "sexual",
        "violence",
        "violence/graphic",
    }
)


@cache
def _table(dimensions: int) -> list[float]:
    rng = random.Random(dimensions)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    # Through float32 and back: the values a float32 model prints.
    return list(array("f", [x / norm for x in raw]))


def _inputs(value: Any) -> list[Any]:
    """Each input of an embeddings request: a string or a token list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, int) for x in value):
        return [value]
    return list(value) if isinstance(value, list) else []


def _turn(item: Any, dimensions: int) -> tuple[int, bool]:
    """Where ``item``'s vector starts in the table, and whether it is negated."""
    digest = hashlib.blake2b(repr(item).encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little") % dimensions, not digest[4] & 1


def vector(item: Any, dimensions: int) -> list[float]:
    turn, negated = _turn(item, dimensions)
    table = _table(dimensions)
    turned = table[turn:] + table[:turn]
    return [-x for x in turned] if negated else turned


@dataclass(frozen=True, slots=True)
class _Printed:
    """The table (or its negation) as JSON numbers joined by commas, where each number
    starts, and as float32 bytes."""

    text: bytes
    starts: list[int]
    packed: bytes


@lru_cache(maxsize=32)  # bounded: a request may ask for any `dimensions`
def _printed(dimensions: int, negated: bool) -> _Printed:
    values = [-x for x in _table(dimensions)] if negated else _table(dimensions)
    text = orjson.dumps(values)[1:-1]
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == ord(",")]
    return _Printed(text, starts, struct.pack(f"<{dimensions}f", *values))


def vector_json(item: Any, dimensions: int) -> bytes:
    """``orjson.dumps(vector(item, dimensions))``, sliced from the printed table."""
    turn, negated = _turn(item, dimensions)
    printed = _printed(dimensions, negated)
    if turn == 0:
        return b"[" + printed.text + b"]"
    cut = printed.starts[turn]
    return b"[" + printed.text[cut:] + b"," + printed.text[: cut - 1] + b"]"


def vector_base64(item: Any, dimensions: int) -> str:
    """The little-endian float32 bytes of ``vector(item, dimensions)``, in base64."""
    turn, negated = _turn(item, dimensions)
    packed = _printed(dimensions, negated).packed
    return base64.b64encode(packed[4 * turn :] + packed[: 4 * turn]).decode()


def read_embedding_input(body: JSON) -> tuple[str, int]:
    """(the texts joined, input tokens): text at 4 characters a token, token lists exactly."""
    texts: list[str] = []
    tokens = 0
    for item in _inputs(body.get("input")):
        if isinstance(item, str):
            texts.append(item)
            tokens += count_tokens(len(item))
        elif isinstance(item, list):
            tokens += len(item)
    return "\n".join(texts), tokens


def build_embeddings(body: JSON, model: str, tokens_in: int, full_text: str) -> JSON:
    dims = body.get("dimensions")
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        dims = MODEL_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(_inputs(body.get("input"))):
        encoded: Any = (
            vector_base64(item, dims) if as_base64 else orjson.Fragment(vector_json(item, dims))
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens_in, "total_tokens": tokens_in},
    }


def read_moderation_input(body: JSON) -> tuple[str, int]:
    texts, images = _moderation_parts(body.get("input"))
    return "\n".join(texts), count_tokens(sum(len(t) for t in texts)) + 85 * images


def _moderation_parts(value: Any) -> tuple[list[str], int]:
    if isinstance(value, str):
        return [value], 0
    texts: list[str] = []
    images = 0
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("type") == "image_url":
            images += 1
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            texts.append(item["text"])
    return texts, images


def _verdict(text: str, image: bool) -> JSON:
    lowered = text.lower()
    categories = {
        name: any(word in lowered for word in words) for name, words in CATEGORIES.items()
    }
    applied = {
        name: (["text", "image"] if image and name in IMAGE_CATEGORIES else ["text"])
        for name in CATEGORIES
    }
    return {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": {name: 0.91 if hit else 0.0001 for name, hit in categories.items()},
        "category_applied_input_types": applied,
    }


def build_moderation(body: JSON, model: str, tokens_in: int, full_text: str) -> JSON:
    """One result per input string (multimodal parts are judged together)."""
    value = body.get("input")
    if isinstance(value, list) and value and all(isinstance(x, str) for x in value):
        results = [_verdict(text, False) for text in value]
    else:
        texts, images = _moderation_parts(value)
        results = [_verdict(" ".join(texts), images > 0)]
    return {"id": new_id("modr-"), "model": model or MODERATION_MODEL, "results": results}


def no_output_cost(body: JSON, tokens_in: int, full_text: str) -> int:
    """Embeddings and moderations are charged their input only."""
    return tokens_in


def no_text(body: JSON, input_text: str) -> str:
    return ""

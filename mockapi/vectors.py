"""Embeddings and Moderations answers, deterministic: the same input gets the same vector
and the same verdict.

A vector is a fixed table of float32 values (unit length, as OpenAI's are), turned by a
hash of its input: a rotation and a sign, so building one costs a list slice, not 1,536
random numbers (the mock must not be what limits a benchmark). Values are float32 numbers
printed as float64, as OpenAI prints them; ``encoding_format: base64`` sends the
little-endian float32 bytes in base64.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from array import array
from functools import cache
from typing import Any

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


def vector(item: Any, dimensions: int) -> list[float]:
    digest = hashlib.blake2b(repr(item).encode(), digest_size=8).digest()
    turn = int.from_bytes(digest[:4], "little") % dimensions
    table = _table(dimensions)
    turned = table[turn:] + table[:turn]
    return turned if digest[4] & 1 else [-x for x in turned]


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
        values = vector(item, dims)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{dims}f", *values)).decode() if as_base64 else values
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

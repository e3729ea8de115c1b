"""Estimate a request's token cost before sending it, without a tokenizer download.

Shared by the workers (what the limiter charges to the token budget, and what providers
count at admission: input + ``max_output_tokens``; ``RateLimiter.settle`` charges any
excess once the real usage is known) and the producer (``respq estimate``,
``BatchClient.estimate``: a batch's input tokens and output cap before it is sent). It is
rough on purpose.

* Text (instructions, string input, message content, ``input_text`` parts, tool-call
  arguments and outputs): ASCII characters / 4, plus one token per non-ASCII character,
  because CJK text runs about one token per character and chars / 4 would undercount it 4×.
* Tool definitions and a structured-output schema: their compact JSON, counted as text.
* Each message item: 4 tokens of framing (role, separators), as chat formats add.
* ``input_image``: 85 tokens (a low-detail image; high detail costs more, settle corrects it).
* ``input_file``: 200 tokens, a placeholder: the file's real size is unknown before upload.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FILE_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_TOKENS",
    "estimate_input_tokens",
    "estimate_tokens",
    "output_cap",
]

IMAGE_TOKENS = 85
FILE_TOKENS = 200
MESSAGE_TOKENS = 4
# Keys of non-message items (function_call, function_call_output, …) that carry text.
_TEXT_FIELDS = ("text", "arguments", "output")


class _Counter:
    __slots__ = ("ascii", "extra", "other")

    def __init__(self) -> None:
        self.ascii = 0  # characters counted at 4 per token
        self.other = 0  # non-ASCII characters, 1 token each
        self.extra = 0  # fixed costs: images, files, message framing

    def text(self, s: str) -> None:
        # isascii() and encode() run in C; no per-character Python loop on large bodies.
        if s.isascii():
            self.ascii += len(s)
        else:
            ascii_chars = len(s.encode("ascii", "ignore"))
            self.ascii += ascii_chars
            self.other += len(s) - ascii_chars

    def content(self, content: Any) -> None:
        if isinstance(content, str):
            self.text(content)
        elif isinstance(content, list):
            for part in content:
                self.part(part)

    def part(self, part: Any) -> None:
        if isinstance(part, str):
            self.text(part)
            return
        if not isinstance(part, Mapping):
            return
        kind = part.get("type")
        if kind == "input_image":
            self.extra += IMAGE_TOKENS
        elif kind == "input_file":
            self.extra += FILE_TOKENS
        else:
            for field in _TEXT_FIELDS:
                value = part.get(field)
                if isinstance(value, str):
                    self.text(value)

    def item(self, item: Any) -> None:
        if isinstance(item, Mapping) and "content" in item:
            self.extra += MESSAGE_TOKENS
            self.content(item["content"])
        else:
            self.part(item)

    def total(self) -> int:
        return math.ceil(self.ascii / 4) + self.other + self.extra


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Estimated input tokens of one Responses request: instructions, input, tools and
    the structured-output schema."""
    counter = _Counter()
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        counter.text(instructions)
    request_input = body.get("input")
    if isinstance(request_input, str):
        counter.text(request_input)
    elif isinstance(request_input, list):
        for item in request_input:
            counter.item(item)
    # Definitions are small next to the input, so serialising them is cheap.
    tools = body.get("tools")
    if tools:
        counter.text(json.dumps(tools, separators=(",", ":"), ensure_ascii=False, default=str))
    text_config = body.get("text")
    if isinstance(text_config, Mapping) and isinstance(text_config.get("format"), Mapping):
        fmt = text_config["format"]
        counter.text(json.dumps(fmt, separators=(",", ":"), ensure_ascii=False, default=str))
    return counter.total()


def output_cap(body: Mapping[str, Any], *, default_max_output_tokens: int) -> int:
    """The most output tokens the request may produce: its ``max_output_tokens``, else the
    default."""
    max_output = body.get("max_output_tokens")
    if not isinstance(max_output, int) or isinstance(max_output, bool) or max_output < 0:
        return default_max_output_tokens
    return max_output


def estimate_tokens(body: Mapping[str, Any], *, default_max_output_tokens: int) -> int:
    """Estimated tokens of one Responses request: input + tools + ``max_output_tokens``."""
    return estimate_input_tokens(body) + output_cap(
        body, default_max_output_tokens=default_max_output_tokens
    )

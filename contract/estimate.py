"""Estimate a request's token cost before sending it, without a tokenizer download; one
estimator per endpoint (``respq.contract.endpoints`` names which).

The estimate is what the limiter charges to the token budget, and what providers count at
admission: input + the output cap (``max_output_tokens``; for chat ``max_completion_tokens``
or ``max_tokens`` times ``n``; none for embeddings and moderations, which produce no
tokens). It is rough on purpose; ``RateLimiter.settle`` charges any excess once the real
usage is known.

* Text (instructions, string input, message content, ``input_text`` parts, tool-call
  arguments and outputs): ASCII characters / 4, plus one token per non-ASCII character,
  because CJK text runs about one token per character and chars / 4 would undercount it 4×.
* Tool definitions and a structured-output schema: their compact JSON, counted as text.
* Each message item: 4 tokens of framing (role, separators), as chat formats add.
* ``input_image``: 85 tokens (a low-detail image; high detail costs more, settle corrects it).
* ``input_file``: 200 tokens, a placeholder: the file's real size is unknown before upload.
* Chat parts: ``image_url`` as ``input_image``; ``file`` and ``input_audio`` as ``input_file``.
* Token lists (embeddings, completions): their length, exactly.
* Images (generations, edits): the prompt as text and each input image (and mask) as
  ``input_image``; the output is OpenAI's published image tokens for the quality, scaled by
  the size's pixels over 1024×1024 (1536×1024 for ``auto`` or an unreadable size), times
  ``n``; a quality other than low or medium counts as high.
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
    "chat_input",
    "completion_input",
    "embedding_input",
    "estimate_tokens",
    "image_input",
    "image_output",
    "moderation_input",
    "output_cap",
    "responses_input",
]

IMAGE_TOKENS = 85
FILE_TOKENS = 200
MESSAGE_TOKENS = 4
# Output tokens of one 1024x1024 image by quality (OpenAI's image-generation guide).
IMAGE_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
_AUTO_SIZE_PIXELS = 1536 * 1024
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
        if kind in ("input_image", "image_url"):
            self.extra += IMAGE_TOKENS
        elif kind in ("input_file", "file", "input_audio"):
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

    def tokens(self, value: Any) -> None:
        """Text, texts, a token list or token lists, as embeddings and completions take."""
        if isinstance(value, str):
            self.text(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    self.text(item)
                elif isinstance(item, list):
                    self.extra += len(item)
                elif isinstance(item, int):
                    self.extra += 1

    def schema(self, value: Any) -> None:
        # Definitions are small next to the input, so serialising them is cheap.
        if value:
            self.text(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))

    def total(self) -> int:
        return math.ceil(self.ascii / 4) + self.other + self.extra


def responses_input(body: Mapping[str, Any]) -> int:
    """A Responses request's input: instructions, input, tools and the output format."""
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
    counter.schema(body.get("tools"))
    text_config = body.get("text")
    if isinstance(text_config, Mapping) and isinstance(text_config.get("format"), Mapping):
        counter.schema(text_config["format"])
    return counter.total()


def chat_input(body: Mapping[str, Any]) -> int:
    """A chat completion's input: messages (tool-call arguments too), tools and the
    response format."""
    counter = _Counter()
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            counter.item(message)
            if isinstance(message, Mapping):
                for call in message.get("tool_calls") or ():
                    function = call.get("function") if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping):
                        counter.part(function)
    counter.schema(body.get("tools"))
    counter.schema(body.get("response_format"))
    return counter.total()


def embedding_input(body: Mapping[str, Any]) -> int:
    """The texts or token lists to embed."""
    counter = _Counter()
    counter.tokens(body.get("input"))
    return counter.total()


def completion_input(body: Mapping[str, Any]) -> int:
    """A legacy completion's prompt and suffix."""
    counter = _Counter()
    counter.tokens(body.get("prompt"))
    counter.tokens(body.get("suffix"))
    return counter.total()


def moderation_input(body: Mapping[str, Any]) -> int:
    """The text and images to classify."""
    counter = _Counter()
    value = body.get("input")
    if isinstance(value, list):
        for part in value:
            counter.part(part)
    else:
        counter.tokens(value)
    return counter.total()


def image_input(body: Mapping[str, Any]) -> int:
    """An image request's prompt, and an edit's input images and mask."""
    counter = _Counter()
    counter.tokens(body.get("prompt"))
    images = body.get("images")
    count = len(images) if isinstance(images, list) else 0
    counter.extra += IMAGE_TOKENS * (count + (body.get("mask") is not None))
    return counter.total()


def image_output(body: Mapping[str, Any]) -> int:
    """The image tokens a request may produce (see the module docstring)."""
    per_image = IMAGE_OUTPUT_TOKENS.get(str(body.get("quality")), IMAGE_OUTPUT_TOKENS["high"])
    width, _, height = str(body.get("size")).partition("x")
    pixels = int(width) * int(height) if width.isdigit() and height.isdigit() else 0
    scale = (pixels or _AUTO_SIZE_PIXELS) / (1024 * 1024)
    return math.ceil(per_image * scale) * (_whole(body.get("n")) or 1)


def _whole(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def output_cap(body: Mapping[str, Any], fields: tuple[str, ...], default: int) -> int:
    """The output tokens a request may produce: the first cap of ``fields`` it sets (else
    ``default``), times the choices it asks for (``n``, ``best_of``); 0 without
    ``fields`` (embeddings and moderations produce no tokens)."""
    if not fields:
        return 0
    cap = next((n for n in (_whole(body.get(f)) for f in fields) if n is not None), default)
    choices = max(_whole(body.get("n")) or 1, _whole(body.get("best_of")) or 1)
    return cap * choices


def estimate_tokens(body: Mapping[str, Any], *, default_max_output_tokens: int) -> int:
    """Estimated tokens of one Responses request: input + tools + ``max_output_tokens``."""
    cap = output_cap(body, ("max_output_tokens",), default_max_output_tokens)
    return responses_input(body) + cap

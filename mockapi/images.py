"""Image generations and edits: every image is the same 1×1 PNG (as base64, or a URL with
``response_format: "url"``), and usage is what OpenAI's image models report: the prompt's
text tokens and the input images' tokens in, the image tokens of OpenAI's published table
for the quality out, scaled by the size's pixels, times ``n``."""

from __future__ import annotations

import math
import time
from typing import Any

from .generate import IMAGE_TOKENS, count_tokens, new_id

JSON = dict[str, Any]

IMAGE_MODEL = "gpt-image-1.5"
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGPw6tn8HwAFNgKJRNHk"
    "mQAAAABJRU5ErkJggg=="
)
# Output tokens of one 1024x1024 image by the quality drawn ("auto" draws medium).
TOKENS_BY_QUALITY = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
FORMATS = ("png", "webp", "jpeg", "gif", "svg")


def _prompt(body: JSON) -> str:
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _input_images(body: JSON) -> int:
    images = body.get("images")
    return (len(images) if isinstance(images, list) else 0) + (body.get("mask") is not None)


def read_image_input(body: JSON) -> tuple[str, int]:
    prompt = _prompt(body)
    return prompt, count_tokens(len(prompt)) + IMAGE_TOKENS * _input_images(body)


def _drawn(body: JSON) -> tuple[str, str, int]:
    """The quality and size drawn, as asked, "auto" (or anything unknown) as medium and
    1024x1024, and the image tokens of all ``n`` images."""
    quality = body.get("quality")
    quality = quality if quality in TOKENS_BY_QUALITY else "medium"
    size = body.get("size")
    width, _, height = size.partition("x") if isinstance(size, str) else ("", "", "")
    if not (width.isdigit() and height.isdigit()):
        size, width, height = "1024x1024", "1024", "1024"
    per_image = math.ceil(TOKENS_BY_QUALITY[quality] * int(width) * int(height) / 1024**2)
    return quality, str(size), per_image * _count(body)


def _count(body: JSON) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def image_token_cost(body: JSON, tokens_in: int, full_text: str) -> int:
    return tokens_in + _drawn(body)[2]


def build_images(body: JSON, model: str, tokens_in: int, full_text: str) -> JSON:
    quality, size, output_tokens = _drawn(body)
    as_url = body.get("response_format") == "url"
    data = [
        {"url": f"https://images.mock.invalid/{new_id('img_')}.png"}
        if as_url
        else {"b64_json": PNG_1X1}
        for _ in range(_count(body))
    ]
    text_tokens = count_tokens(len(_prompt(body)))
    requested_format = body.get("output_format")
    return {
        "created": int(time.time()),
        "background": "transparent" if body.get("background") == "transparent" else "opaque",
        "data": data,
        "output_format": requested_format if requested_format in FORMATS else "png",
        "quality": quality,
        "size": size,
        "usage": {
            "input_tokens": tokens_in,
            "input_tokens_details": {
                "image_tokens": tokens_in - text_tokens,
                "text_tokens": text_tokens,
            },
            "output_tokens": output_tokens,
            "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
            "total_tokens": tokens_in + output_tokens,
        },
    }

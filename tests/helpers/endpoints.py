"""Each endpoint as the tests see it: its example batch file, the official SDK's type of
its answer, and the usage an answer reports under OpenAI's own field names."""

from __future__ import annotations

import base64
from array import array
from pathlib import Path
from typing import Any

import openai.types as sdk
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from helpers.paths import EXAMPLES
from helpers.shapes import jsonl_lines

EXAMPLE_FILES: dict[str, Path] = {
    "/v1/responses": EXAMPLES / "batch.jsonl",
    "/v1/chat/completions": EXAMPLES / "chat.jsonl",
    "/v1/embeddings": EXAMPLES / "embeddings.jsonl",
    "/v1/completions": EXAMPLES / "completions.jsonl",
    "/v1/moderations": EXAMPLES / "moderations.jsonl",
    "/v1/images/generations": EXAMPLES / "images.jsonl",
    "/v1/images/edits": EXAMPLES / "image_edits.jsonl",
}
SDK_TYPES: dict[str, type[BaseModel]] = {
    "/v1/responses": sdk.responses.Response,
    "/v1/chat/completions": ChatCompletion,
    "/v1/embeddings": sdk.CreateEmbeddingResponse,
    "/v1/completions": sdk.Completion,
    "/v1/moderations": sdk.ModerationCreateResponse,
    "/v1/images/generations": sdk.ImagesResponse,
    "/v1/images/edits": sdk.ImagesResponse,
}


def example(url: str) -> list[dict[str, Any]]:
    """The lines of the endpoint's example file."""
    return jsonl_lines(EXAMPLE_FILES[url].read_bytes())


def as_the_sdk_reads(body: dict[str, Any]) -> dict[str, Any]:
    """The SDK asks for base64 vectors and decodes them before its type reads the body."""
    data = body.get("data")
    if not isinstance(data, list):
        return body
    decoded = [
        {**d, "embedding": list(array("f", base64.b64decode(d["embedding"])))}
        if isinstance(d, dict) and isinstance(d.get("embedding"), str)
        else d
        for d in data
    ]
    return {**body, "data": decoded}


def sdk_check(url: str, body: dict[str, Any]) -> None:
    """Raise unless the SDK's type for the endpoint reads ``body``."""
    SDK_TYPES[url].model_validate(as_the_sdk_reads(body))


def usage_of(url: str, body: dict[str, Any]) -> tuple[int, int]:
    """(input, output) tokens of one answer, read straight from OpenAI's field names."""
    usage = body.get("usage") or {}
    if url in ("/v1/responses", "/v1/images/generations", "/v1/images/edits"):
        return usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    if url == "/v1/moderations":
        return 0, 0
    return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)

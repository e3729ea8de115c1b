"""An Embeddings request (``POST /embeddings``), with the bounds of OpenAI's API reference:
``input`` is a string, a list of strings, a token list or a list of token lists, never
empty, at most 2,048 inputs a request; ``dimensions`` >= 1; ``encoding_format`` float or
base64. Unknown fields pass through unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from respq.contract.request import RequestBody

MAX_EMBEDDING_INPUTS = 2048

TokenList = list[int]
# What OpenAI's prompt-like fields take: text, texts, tokens, or lists of tokens.
TextOrTokens = str | list[str] | TokenList | list[TokenList]


def check_text_or_tokens(value: TextOrTokens, *, most: int | None = None) -> TextOrTokens:
    """Non-empty, within ``most`` inputs, and no empty string or token list inside."""
    if isinstance(value, str):
        if not value:
            raise ValueError("must not be an empty string")
        return value
    items: list[Any] = list(value)
    if not items:
        raise ValueError("must not be an empty list")
    if any(isinstance(item, str | list) and not item for item in items):
        raise ValueError("must not hold an empty string or an empty token list")
    inputs = 1 if isinstance(items[0], int) else len(items)
    if most is not None and inputs > most:
        raise ValueError(f"at most {most} inputs a request, got {inputs}")
    return value


class EmbeddingRequest(RequestBody):
    """One ``POST /embeddings`` request body."""

    model: str = Field(min_length=1, max_length=128)
    input: TextOrTokens
    dimensions: int | None = Field(default=None, ge=1)
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _input(cls, value: TextOrTokens) -> TextOrTokens:
        return check_text_or_tokens(value, most=MAX_EMBEDDING_INPUTS)

"""What a provider sends back, read liberally.

Any 2xx answer whose body is a JSON object that is a Response (``object == "response"``,
or an ``output`` list) is a success and is stored exactly as received. Providers differ in
many small ways — nulls in usage details, no ``usage`` at all, no ``output_text`` (an SDK
property OpenAI itself never sends), ids without ``resp_``, reasoning, tool-call and unknown
output items — and none of that may turn a success into a failure. So nothing here
validates a body: it only reads the few facts respq needs (usage, id, status), and every
one of them has a safe default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INCOMPLETE = "incomplete"


def is_response(body: Any) -> bool:
    """A JSON object that is a Responses API response (of any provider's flavour)."""
    return isinstance(body, dict) and (
        body.get("object") == "response" or isinstance(body.get("output"), list)
    )


def _count(value: Any) -> int:
    """A token count: whatever is numeric, else 0 (null, missing, strings, negatives)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value):
        return max(int(value), 0)
    return 0


def _detail(details: Any, name: str) -> int:
    return _count(details.get(name)) if isinstance(details, dict) else 0


@dataclass(frozen=True, slots=True)
class Usage:
    """One response's token counts; absent or non-numeric values count as 0."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def read(cls, usage: Any) -> Usage:
        """The counts of a Response's ``usage`` object, whatever shape it came in.

        Chat-Completions names (``prompt_tokens``/``completion_tokens``) are read too, as
        some OpenAI-compatible servers send them; a missing total is input + output.
        """
        if not isinstance(usage, dict):
            return cls()
        get = usage.get
        input_tokens = _count(get("input_tokens")) or _count(get("prompt_tokens"))
        output_tokens = _count(get("output_tokens")) or _count(get("completion_tokens"))
        total = _count(get("total_tokens")) or input_tokens + output_tokens
        cached = _detail(get("input_tokens_details"), "cached_tokens") or _detail(
            get("prompt_tokens_details"), "cached_tokens"
        )
        reasoning = _detail(get("output_tokens_details"), "reasoning_tokens") or _detail(
            get("completion_tokens_details"), "reasoning_tokens"
        )
        return cls(input_tokens, output_tokens, total, cached, reasoning)

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (
            self.input_tokens,
            self.output_tokens,
            self.total_tokens,
            self.cached_tokens,
            self.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """What respq reads from a success: its usage, id and whether it was incomplete."""

    usage: Usage
    id: str
    incomplete: bool

    @classmethod
    def read(cls, body: dict[str, Any]) -> ResponseFacts:
        response_id = body.get("id")
        return cls(
            Usage.read(body.get("usage")),
            response_id if isinstance(response_id, str) else "",
            body.get("status") == INCOMPLETE,
        )


def _output_text(output: list[Any]) -> str:
    return "".join(
        part.get("text") or ""
        for item in output
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    )


class Response(BaseModel):
    """A Responses API response for reading results in Python: every field optional and
    tolerant of any provider's shape; ``output_text`` is derived when it was not sent."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    object: str | None = "response"
    created_at: int | float | None = None
    status: str | None = None
    model: str | None = None
    output: list[Any] = Field(default_factory=list)
    output_text: str | None = None
    usage: Usage = Field(default_factory=Usage)

    @field_validator("id", "object", "status", "model", mode="before")
    @classmethod
    def _text_or_none(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None

    @field_validator("created_at", mode="before")
    @classmethod
    def _number_or_none(cls, value: Any) -> int | float | None:
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    @field_validator("output", mode="before")
    @classmethod
    def _list(cls, value: Any) -> list[Any]:
        return value if isinstance(value, list) else []

    @field_validator("output_text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None

    @field_validator("usage", mode="before")
    @classmethod
    def _usage(cls, value: Any) -> Usage:
        return value if isinstance(value, Usage) else Usage.read(value)

    @model_validator(mode="after")
    def _derive_output_text(self) -> Response:
        if self.output_text is None:
            self.output_text = _output_text(self.output)
        return self

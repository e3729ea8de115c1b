"""A legacy Completions request (``POST /completions``), with the bounds of OpenAI's API
reference. Unknown fields pass through unchanged."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from respq.contract.chat_request import MAX_N, SamplingChecks, StreamOptions
from respq.contract.embedding_request import TextOrTokens, check_text_or_tokens


class CompletionRequest(SamplingChecks):
    """One ``POST /completions`` request body."""

    model: str = Field(min_length=1, max_length=128)
    prompt: TextOrTokens
    suffix: str | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    best_of: int | None = Field(default=None, ge=0, le=20)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: bool | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    user: str | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: TextOrTokens) -> TextOrTokens:
        return check_text_or_tokens(value)

    @model_validator(mode="after")
    def _choices(self) -> CompletionRequest:
        if self.best_of is not None and self.n is not None and self.best_of < self.n:
            raise ValueError("best_of must be at least n")
        return self

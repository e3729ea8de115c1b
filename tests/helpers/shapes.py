"""OpenAI's batch output line, as its Batch API guide documents it, written strictly: the
judge of what respq emits (the openai SDK has no type for these lines); and the lines of a
JSONL text, as a test reads an output file."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, model_validator

from respq.contract.lines import OutputLine


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BatchResponse(_Strict):
    status_code: int
    request_id: str | None
    body: dict[str, Any]


class BatchError(_Strict):
    code: str
    message: str


class BatchOutputLine(_Strict):
    """``{"id", "custom_id", "response": {...} | null, "error": {...} | null}``: exactly one
    of the two is set; an HTTP answer (any status) is a response with ``error: null``."""

    id: str
    custom_id: str
    response: BatchResponse | None
    error: BatchError | None

    @model_validator(mode="after")
    def _one_of(self) -> BatchOutputLine:
        if (self.response is None) == (self.error is None):
            raise ValueError("exactly one of response and error must be set")
        return self


def check_line(line: dict[str, Any]) -> BatchOutputLine:
    return BatchOutputLine.model_validate(line)


def code_of(line: dict[str, Any]) -> str:
    """A stored output line's failure code (HTTP failures included), or "ok"."""
    return OutputLine.model_validate(line).code or "ok"


def jsonl_lines(text: str | bytes) -> list[dict[str, Any]]:
    """Every line of a JSONL text (an output file, an example file), blank lines skipped."""
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]

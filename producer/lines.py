"""Batch input and output lines in the OpenAI Batch format.

Input: ``{"custom_id", "method": "POST", "url": "/v1/responses", "body": {...}}`` or a bare
request body (its custom_id is then ``line-<n>``, 1-based). Output:
``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null,
"error": {"code", "message"} | null}``.
"""

from __future__ import annotations

import secrets
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

ACCEPTED_URLS: Final = frozenset({"/v1/responses", "/responses", "/api/v1/responses"})
BATCH_LINE_KEYS: Final = frozenset({"custom_id", "method", "url", "body", "depends_on"})


class InputLine(BaseModel):
    """One line of a batch input file in the OpenAI Batch format."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str = Field(min_length=1, max_length=512)
    method: Literal["POST"] = "POST"
    url: str = "/v1/responses"
    body: dict[str, Any]
    depends_on: str | None = Field(default=None, min_length=1, max_length=512)


def is_batch_line(obj: dict[str, Any]) -> bool:
    """A dict is an OpenAI Batch line when it has a ``body``; otherwise it is a bare body."""
    return "body" in obj and "model" not in obj


class ErrorInfo(BaseModel):
    code: str
    message: str


class ResponseInfo(BaseModel):
    status_code: int
    request_id: str | None = None
    body: Any = None


class OutputLine(BaseModel):
    """One line of a batch output file."""

    id: str
    custom_id: str
    response: ResponseInfo | None = None
    error: ErrorInfo | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def new_line_id() -> str:
    return "batch_req_" + secrets.token_hex(12)


def success_line(
    custom_id: str, status_code: int, request_id: str | None, body: Any
) -> dict[str, Any]:
    return {
        "id": new_line_id(),
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }


def error_line(
    custom_id: str,
    code: str,
    message: str,
    *,
    status_code: int | None = None,
    request_id: str | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """An error line; an HTTP error keeps its status and body in ``response`` too."""
    response = (
        None
        if status_code is None
        else {"status_code": status_code, "request_id": request_id, "body": body}
    )
    return {
        "id": new_line_id(),
        "custom_id": custom_id,
        "response": response,
        "error": {"code": code, "message": message},
    }

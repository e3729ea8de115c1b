"""Batch input and output lines in the OpenAI Batch format.

Input: ``{"custom_id", "method": "POST", "url": "/v1/responses", "body": {...}}`` or a bare
request body (its custom_id is then ``line-<n>``, 1-based). Output, exactly OpenAI's:
``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null,
"error": {"code", "message"} | null}``. A request that ended with an HTTP answer (2xx, 4xx,
or 5xx after the retries) has ``response`` and ``error: null``; ``error`` with
``response: null`` is only for failures without a usable HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from respq.contract.errors import UpstreamError
from respq.contract.ids import new_line_id

ACCEPTED_URLS: Final = frozenset({"/v1/responses", "/responses", "/api/v1/responses"})


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


@dataclass(frozen=True)
class ItemProblem:
    """One thing wrong with one batch item (what ``InvalidInput`` lists)."""

    where: str  # "line 12" or "item 3"
    custom_id: str | None
    field: str  # dotted path, "" for the item as a whole
    message: str
    code: str | None = None  # OpenAI's batch error code, where the field alone won't say

    def __str__(self) -> str:
        cid = f" (custom_id {self.custom_id!r})" if self.custom_id else ""
        field = f" field {self.field!r}:" if self.field else ""
        return f"{self.where}{cid}:{field} {self.message}"


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
        """A 2xx answer; an HTTP failure has ``error: null`` too, with a 4xx/5xx status."""
        return self.error is None and self.response is not None and is_2xx(self.response)

    @property
    def code(self) -> str | None:
        """The failure's code (``error.code``, else the HTTP body's ``error.code``);
        None for a success."""
        if self.error is not None:
            return self.error.code
        if self.succeeded or self.response is None:
            return None
        return body_error_code(self.response.body) or f"http_{self.response.status_code}"


def is_2xx(response: ResponseInfo) -> bool:
    return 200 <= response.status_code < 300


def is_success(line: dict[str, Any]) -> bool:
    """The output-file test, as OpenAI splits output and error files: a line with a 2xx
    ``response`` and no ``error``; everything else belongs in the error file."""
    response = line.get("response")
    return (
        line.get("error") is None
        and isinstance(response, dict)
        and isinstance(response.get("status_code"), int)
        and 200 <= response["status_code"] < 300
    )


def body_error_code(body: Any) -> str | None:
    """The code a provider's error body names (``error.code``, else ``error.type``), as a
    string. The Lua scripts read a stored line's code the same way (``line_code``)."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code") or err.get("type")
            if isinstance(code, str | int) and not isinstance(code, bool):
                return str(code)
    return None


def failure_body(body: Any, code: str, message: str) -> Any:
    """The ``response.body`` of an HTTP failure: the provider's JSON error as received when
    it names its code; otherwise an OpenAI-style error object carrying respq's code (a
    non-JSON body, such as a proxy's HTML 502 page, is kept in the message)."""
    if body_error_code(body) == code:
        return body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return {**body, "error": {**err, "code": code}}
        return {**body, "error": {"message": message, "type": code, "param": None, "code": code}}
    if isinstance(body, str) and body:
        message = f"{message}: {body}"
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


# What each outcome becomes. An HTTP answer, 2xx or not, keeps it (answer_line,
# failure_line); a failure with no HTTP answer to show is ``error`` with ``response: null``
# (error_line): one of the upstream call's codes (request_timeout, connection_error, …), or
# one of respq's own: worker_error (a fault inside respq, or a job past its runs), and for
# requests never sent batch_cancelled, batch_expired and dependency_failed, which the Lua
# scripts write with error_line in contract/lua/_common.lua, the same bytes as error_line
# here for the same arguments (tests/integration/test_core_path_lines.py).
WORKER_ERROR: Final = "worker_error"


def answer_line(
    custom_id: str, status_code: int, request_id: str | None, body: Any
) -> dict[str, Any]:
    """A request that ended with an HTTP answer, 2xx or not: ``response`` and
    ``error: null``, as in OpenAI's output and error files."""
    return {
        "id": new_line_id(),
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }


def failure_line(custom_id: str, exc: UpstreamError) -> dict[str, Any]:
    """A failed upstream call. An HTTP answer (4xx, or 5xx after the retries) keeps it:
    ``response`` with the status and body (carrying the failure's code, failure_body),
    ``error: null``, as OpenAI writes it. Anything else (no answer, a 2xx that is not a
    valid answer, a broken stream) is an error_line."""
    status = exc.status_code
    if status is not None and not 200 <= status < 300:
        body = failure_body(exc.body, exc.code, exc.message)
        return answer_line(custom_id, status, exc.request_id, body)
    return error_line(custom_id, exc.code, exc.message)


def error_line(
    custom_id: str, code: str, message: str, *, line_id: str | None = None
) -> dict[str, Any]:
    """A failure without a usable HTTP answer: ``error`` and ``response: null``."""
    return {
        "id": line_id or new_line_id(),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def worker_error_line(custom_id: str, message: str) -> dict[str, Any]:
    """A request respq itself could not see through (``worker_error``)."""
    return error_line(custom_id, WORKER_ERROR, message)


def line_code(line: dict[str, Any]) -> str:
    """The failure code of an output line built here, "" for a success: ``error.code``, else
    the HTTP body's (``OutputLine.code`` and ``line_code`` in _common.lua read it alike)."""
    error = line.get("error")
    if isinstance(error, dict):
        return str(error["code"])
    response = line.get("response")
    if is_success(line) or not isinstance(response, dict):
        return ""
    return body_error_code(response.get("body")) or f"http_{response.get('status_code')}"

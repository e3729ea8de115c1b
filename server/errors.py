"""Errors of the API server, answered in OpenAI's error shape.

RespqError (contract.errors)
 └── ApiError              an HTTP error answered as {"error": {message, type, param, code}}
      ├── NotFound          unknown file or batch (404)
      ├── BadRequest        a request OpenAI would refuse (400)
      │    └── PayloadTooLarge  a body, upload or form over its limit (413)
      ├── Unauthorized      missing or wrong API key (401)
      ├── TooManyRequests   too many wrong keys from one client address (429)
      └── StorageFailed     RESPQ_FILES_DIR refused to store an upload (500)
           └── StorageFull  ... because it is out of space or quota (507)
"""

from __future__ import annotations

from typing import Any

from respq.contract.errors import RespqError


class ApiError(RespqError):
    """An error answered with ``status`` and OpenAI's error body."""

    status = 500
    type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides its body."""
        return {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class NotFound(ApiError):
    """No such file or batch (404)."""

    status = 404
    type = "invalid_request_error"


class BadRequest(ApiError):
    """A request OpenAI's API would refuse (400)."""

    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(BadRequest):
    """A request body, upload or form over its limit (413)."""

    status = 413


class Unauthorized(ApiError):
    """A missing or wrong API key (401)."""

    status = 401
    type = "invalid_request_error"


class TooManyRequests(ApiError):
    """Too many wrong keys from one client address (429, OpenAI's rate-limit shape)."""

    status = 429
    type = "requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, code="rate_limit_exceeded")
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


class StorageFailed(ApiError):
    """``RESPQ_FILES_DIR`` refused to store an upload (500); the message names the setting
    and the system's reason, never a path."""

    status = 500
    type = "server_error"


class StorageFull(StorageFailed):
    """``RESPQ_FILES_DIR`` is out of space or quota (507 Insufficient Storage)."""

    status = 507

"""Errors of an upstream call, translated at the edge from httpx and HTTP statuses; every
one is a ``respq.contract.errors.RespqError`` (the whole tree is drawn there).

UpstreamError                 code, message, and the HTTP status/body when there was one
 ├── RetryableError           worth another attempt (tenacity retries these)
 │    ├── RateLimited         429 that is a rate limit (not a quota)
 │    ├── ServerError         408, 409, 5xx, or x-should-retry: true
 │    ├── UpstreamTimeout     no answer within the request timeout
 │    ├── ConnectionFailed    connect/reset/protocol errors
 │    └── StreamInterrupted   an SSE stream that ended before its final event
 └── FinalError               retrying cannot help
      ├── ClientError         400/401/403/404/422 … (model_not_found, invalid_api_key)
      ├── QuotaExceeded       429 insufficient_quota
      ├── InvalidResponse     a 2xx whose body is not a Response
      ├── StreamFailed        an SSE error / response.failed event
      └── RequestTooLarge     the request can never fit the token limit
"""

from __future__ import annotations

from typing import Any

from respq.contract.errors import RespqError


class UpstreamError(RespqError):
    """A failed upstream call, with what the provider said."""

    default_code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after
        self.latency: float | None = None  # seconds the attempt took, set by the sender


class RetryableError(UpstreamError):
    """Worth another attempt."""


class RateLimited(RetryableError):
    """The provider said 429 (a rate limit, not a quota)."""

    default_code = "rate_limit_exceeded"


class ServerError(RetryableError):
    """408, 409, 5xx, or a response marked x-should-retry: true."""

    default_code = "server_error"


class UpstreamTimeout(RetryableError):
    """No answer within the request timeout."""

    default_code = "request_timeout"


class ConnectionFailed(RetryableError):
    """The connection could not be made or broke."""

    default_code = "connection_error"


class StreamInterrupted(RetryableError):
    """An SSE stream ended before response.completed."""

    default_code = "stream_interrupted"


class FinalError(UpstreamError):
    """Retrying cannot help."""


class ClientError(FinalError):
    """A 4xx the provider will answer the same way again."""

    default_code = "invalid_request"


class QuotaExceeded(FinalError):
    """429 insufficient_quota: out of credit, not a rate limit."""

    default_code = "insufficient_quota"


class InvalidResponse(FinalError):
    """A 2xx whose body is not a valid Response."""

    default_code = "invalid_response"


class StreamFailed(FinalError):
    """The stream carried an error or response.failed event."""

    default_code = "response_failed"


class RequestTooLarge(FinalError):
    """The request's token estimate exceeds what the token limit can ever admit (raised
    by the limiter before anything is sent)."""

    default_code = "request_too_large"

    def __init__(self, tokens: int, capacity: int, tpm: int) -> None:
        self.tokens = tokens
        self.capacity = capacity
        self.tpm = tpm
        super().__init__(
            f"request needs ~{tokens} tokens but the token limit admits at most {capacity} "
            f"per request (TPM={tpm})"
        )

"""The upstream HTTP call: one httpx.AsyncClient per worker process, on the aiohttp
transport (httpx's own pool collapses at hundreds of requests in flight), with every
failure translated into an UpstreamError subclass at this edge."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from producer.models import Response
from worker.config import WorkerConfig
from worker.errors import (
    ClientError,
    ConnectionFailed,
    InvalidResponse,
    QuotaExceeded,
    RateLimited,
    ServerError,
    UpstreamError,
    UpstreamTimeout,
)
from worker.sse import final_response

FINAL_CODES = frozenset({"model_not_found", "invalid_api_key", "insufficient_quota"})
_STATUS_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    413: "request_too_large",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
}


@dataclass(frozen=True, slots=True)
class UpstreamSuccess:
    status_code: int
    request_id: str | None
    body: dict[str, Any]
    response: Response
    headers: httpx.Headers


def build_http_client(
    config: WorkerConfig, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The worker's one client. Tests pass an ``httpx.MockTransport``."""
    headers = {"content-type": "application/json", "user-agent": "respq/0.1"}
    if config.api_key is not None:
        secret = config.api_key.get_secret_value()
        if config.auth_header == "x-api-key":
            headers["x-api-key"] = secret
        else:
            headers["authorization"] = f"Bearer {secret}"
    limits = httpx.Limits(
        max_connections=config.max_jobs, max_keepalive_connections=config.max_jobs
    )
    timeout = httpx.Timeout(config.request_timeout, connect=config.connect_timeout)
    if transport is None:
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits)
    return httpx.AsyncClient(transport=transport, headers=headers, timeout=timeout)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """``retry-after-ms``, else ``retry-after`` as seconds or an HTTP date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code") or err.get("type")
            return (str(code) if code else None), (str(err.get("message") or "") or None)
        if isinstance(err, str):
            return None, err
    return None, None


def classify_error(status: int, headers: httpx.Headers, content: bytes) -> UpstreamError:
    """The UpstreamError for a non-2xx answer."""
    try:
        body: Any = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = content[:2000].decode("utf-8", "replace")
    code, message = _error_fields(body)
    code = (
        code or _STATUS_CODES.get(status) or ("server_error" if status >= 500 else f"http_{status}")
    )
    message = message or f"upstream answered HTTP {status}"
    kwargs: dict[str, Any] = {
        "code": code,
        "status_code": status,
        "body": body,
        "request_id": headers.get("x-request-id"),
        "retry_after": retry_after_seconds(headers),
    }
    should_retry = (headers.get("x-should-retry") or "").lower()
    if code == "insufficient_quota":
        return QuotaExceeded(message, **kwargs)
    if should_retry == "false" or code in FINAL_CODES:
        return ClientError(message, **kwargs)
    if status == 429:
        return RateLimited(message, **kwargs)
    if should_retry == "true" or status in (408, 409) or status >= 500:
        return ServerError(message, **kwargs)
    return ClientError(message, **kwargs)


def parse_success(
    status: int, request_id: str | None, body: Any, headers: httpx.Headers
) -> UpstreamSuccess:
    if not isinstance(body, dict):
        raise InvalidResponse(
            "the upstream answered 2xx with a body that is not a JSON object",
            status_code=status,
            body=body,
            request_id=request_id,
        )
    try:
        response = Response.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidResponse(
            "the upstream answered 2xx with a body that is not a Response "
            f"({where}: {first['msg']})",
            status_code=status,
            body=body,
            request_id=request_id,
        ) from None
    return UpstreamSuccess(status, request_id, body, response, headers)


class UpstreamClient:
    """Sends one Responses request and returns the parsed response or raises."""

    def __init__(self, config: WorkerConfig, http: httpx.AsyncClient) -> None:
        self.url = config.responses_url
        self.http = http

    async def send(self, body: bytes, *, stream: bool) -> UpstreamSuccess:
        try:
            if stream:
                return await self._send_streamed(body)
            answer = await self.http.post(self.url, content=body)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"no answer in time: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from None
        return self._parse(answer.status_code, answer.headers, answer.content)

    def _parse(self, status: int, headers: httpx.Headers, content: bytes) -> UpstreamSuccess:
        if not 200 <= status < 300:
            raise classify_error(status, headers, content)
        request_id = headers.get("x-request-id")
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise InvalidResponse(
                f"the upstream answered {status} with a body that is not JSON "
                f"({len(content)} bytes, content-type {headers.get('content-type')!r})",
                status_code=status,
                body=content[:2000].decode("utf-8", "replace"),
                request_id=request_id,
            ) from None
        return parse_success(status, request_id, body, headers)

    async def _send_streamed(self, body: bytes) -> UpstreamSuccess:
        async with self.http.stream(
            "POST", self.url, content=body, headers={"accept": "text/event-stream"}
        ) as answer:
            if not 200 <= answer.status_code < 300:
                content = await answer.aread()
                raise classify_error(answer.status_code, answer.headers, content)
            request_id = answer.headers.get("x-request-id")
            if "text/event-stream" not in answer.headers.get("content-type", ""):
                content = await answer.aread()
                return self._parse(answer.status_code, answer.headers, content)
            final = await final_response(answer.aiter_lines(), request_id)
            return parse_success(answer.status_code, request_id, final, answer.headers)

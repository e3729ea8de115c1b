"""The upstream HTTP call: one httpx.AsyncClient per worker process, on the aiohttp
transport (httpx's own pool collapses at hundreds of requests in flight), with every
failure translated into an UpstreamError subclass at this edge."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson

from respq.contract.endpoints import DEFAULT_ENDPOINT, ENDPOINTS, Endpoint
from respq.contract.errors import (
    ClientError,
    ConnectionFailed,
    InvalidResponse,
    QuotaExceeded,
    RateLimited,
    ServerError,
    StreamInterrupted,
    UpstreamError,
    UpstreamTimeout,
)
from respq.contract.lines import body_error_code
from respq.contract.response import ResponseFacts
from respq.contract.settings import auth_headers
from respq.worker.chat_stream import STREAM_READERS
from respq.worker.config import WorkerConfig

FINAL_CODES = frozenset({"model_not_found", "invalid_api_key", "insufficient_quota"})
# Where providers put their request id: OpenAI/vLLM, Anthropic-style gateways, LiteLLM's
# proxy, Azure API Management.
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-litellm-call-id", "apim-request-id")
REDACTED = b"[redacted]"
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
    facts: ResponseFacts
    headers: httpx.Headers
    latency: float | None = None  # seconds, set by the sender (the batch's timeline)


def build_http_client(
    config: WorkerConfig, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The worker's one client. Tests pass an ``httpx.MockTransport``."""
    headers = {
        "content-type": "application/json",
        "user-agent": "respq/0.1",
        **auth_headers(config.api_key, config.auth_header),
    }
    limits = httpx.Limits(
        max_connections=config.worker_in_flight,
        max_keepalive_connections=config.worker_in_flight,
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


def request_id_of(headers: httpx.Headers) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """The code (read as the Lua scripts read a stored line's code) and message of a
    provider's error body."""
    code = body_error_code(body)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return code, (str(err.get("message") or "") or None)
        if isinstance(err, str):
            return code, err
    return code, None


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
        "request_id": request_id_of(headers),
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
    status: int,
    request_id: str | None,
    body: Any,
    headers: httpx.Headers,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
) -> UpstreamSuccess:
    """A 2xx answer: any body of the endpoint's kind (a Response, a chat completion …) is
    a success, stored as received; only a body that is not one at all is
    ``invalid_response``."""
    if not endpoint.is_success(body):
        what = "a JSON object" if isinstance(body, dict) else f"JSON {type(body).__name__}"
        raise InvalidResponse(
            f"the upstream answered {status} with {what} that is not {endpoint.success}",
            status_code=status,
            body=body,
            request_id=request_id,
        )
    return UpstreamSuccess(status, request_id, body, endpoint.facts(body), headers)


def transport_error(exc: httpx.TransportError) -> UpstreamError:
    """Classify a failed exchange by its cause: no answer in time is ``request_timeout``;
    a connection that could not be made or broke is ``connection_error``.

    httpx-aiohttp maps every aiohttp ``ClientConnectionError`` (refused, reset, server
    disconnected) to ``httpx.ConnectTimeout``, so the aiohttp cause decides when there is one.
    """
    cause = exc.__cause__
    what = f"{type(cause or exc).__name__}: {cause or exc}"
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return ConnectionFailed(what)
    if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        return UpstreamTimeout(f"no answer in time: {what}")
    if isinstance(cause, aiohttp.ClientError | OSError):
        return ConnectionFailed(what)
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        return ConnectionFailed(what)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"no answer in time: {what}")
    return ConnectionFailed(what)


class UpstreamClient:
    """Sends one request to its endpoint and returns the parsed answer or raises."""

    def __init__(self, config: WorkerConfig, http: httpx.AsyncClient) -> None:
        self.url = config.responses_url
        self._urls = {url: httpx.URL(config.endpoint_url(e)) for url, e in ENDPOINTS.items()}
        self.http = http
        # The plain (non-streamed) call goes straight to the client's transport with a
        # URL, headers and timeout prepared once: httpx's per-request URL merge, cookie
        # jar, auth and redirect machinery cost about a fifth of a busy worker's CPU and
        # do nothing for one fixed POST (no cookies or redirects are wanted here).
        self._url = httpx.URL(self.url)
        self._transport = http._transport_for_url(self._url)
        self._timeout = {"timeout": http.timeout.as_dict()}
        # httpx's timeouts bound each read, not the exchange: an upstream that trickles
        # its answer a byte at a time would hold the request for ever. One deadline covers
        # connect to last byte; a stream must also keep sending events.
        self.deadline = config.request_timeout
        self.idle_timeout = config.stream_idle_timeout
        key = config.api_key.get_secret_value() if config.api_key else ""
        # A provider that echoes the key in a body must not get it stored in Redis.
        self._secret = key.encode() if len(key) >= 8 else b""

    def _scrub(self, content: bytes) -> bytes:
        secret = self._secret
        return content.replace(secret, REDACTED) if secret and secret in content else content

    async def send(
        self, body: bytes, *, stream: bool, endpoint: Endpoint = DEFAULT_ENDPOINT
    ) -> UpstreamSuccess:
        deadline = asyncio.timeout(self.deadline)
        try:
            # On expiry the cancelled read unwinds through aclose() / the stream's context
            # manager, which close the half-read connection instead of pooling it.
            async with deadline:
                if stream:
                    return await self._send_streamed(body, endpoint)
                request = httpx.Request(
                    "POST",
                    self._urls[endpoint.url],
                    headers=self.http.headers,
                    content=body,
                    extensions=self._timeout,
                )
                answer = await self._transport.handle_async_request(request)
                try:
                    content = await answer.aread()
                finally:
                    await answer.aclose()
        except httpx.TransportError as exc:
            raise transport_error(exc) from None
        except TimeoutError:
            if not deadline.expired():
                raise
            raise UpstreamTimeout(
                f"no complete answer within {self.deadline:g}s (RESPQ_REQUEST_TIMEOUT)"
            ) from None
        return self._parse(answer.status_code, answer.headers, content, endpoint)

    def _parse(
        self, status: int, headers: httpx.Headers, content: bytes, endpoint: Endpoint
    ) -> UpstreamSuccess:
        content = self._scrub(content)
        if not 200 <= status < 300:
            raise classify_error(status, headers, content)
        request_id = request_id_of(headers)
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
        return parse_success(status, request_id, body, headers, endpoint)

    async def _send_streamed(self, body: bytes, endpoint: Endpoint) -> UpstreamSuccess:
        async with self.http.stream(
            "POST",
            self._urls[endpoint.url],
            content=body,
            headers={"accept": "text/event-stream"},
        ) as answer:
            if not 200 <= answer.status_code < 300:
                content = self._scrub(await answer.aread())
                raise classify_error(answer.status_code, answer.headers, content)
            request_id = request_id_of(answer.headers)
            if "text/event-stream" not in answer.headers.get("content-type", ""):
                content = await answer.aread()
                return self._parse(answer.status_code, answer.headers, content, endpoint)
            try:
                final = await STREAM_READERS[endpoint.url](
                    answer.aiter_lines(), request_id, idle_timeout=self.idle_timeout
                )
            except httpx.TransportError as exc:
                # The answer had begun: a connection lost mid-stream interrupts the stream.
                raise StreamInterrupted(
                    f"the event stream broke off: {type(exc.__cause__ or exc).__name__}",
                    request_id=request_id,
                ) from None
            return parse_success(answer.status_code, request_id, final, answer.headers, endpoint)

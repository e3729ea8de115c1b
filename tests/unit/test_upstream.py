"""The upstream edge: HTTP answers and transport failures become UpstreamError types."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from respq.contract.errors import (
    ClientError,
    ConnectionFailed,
    InvalidResponse,
    QuotaExceeded,
    RateLimited,
    RetryableError,
    ServerError,
    StreamFailed,
    StreamInterrupted,
    UpstreamTimeout,
)
from respq.worker.config import WorkerConfig
from respq.worker.upstream import UpstreamClient, build_http_client, retry_after_seconds

from helpers.factories import response_body

BODY = orjson.dumps({"model": "gpt-5.4", "input": "hi"})


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], **config: object
) -> UpstreamClient:
    cfg = WorkerConfig(base_url="http://upstream.test/v1", api_key="sk-test", **config)  # type: ignore[arg-type]
    return UpstreamClient(cfg, build_http_client(cfg, httpx.MockTransport(handler)))


def error(status: int, code: str | None, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"message": f"boom {status}", "type": "x", "param": None, "code": code}}
    return httpx.Response(status, json=body, headers=headers or {})


async def test_success_parses_response_and_request_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=response_body("hi"), headers={"x-request-id": "req_1"})

    result = await client_for(handler).send(BODY, stream=False)
    assert result.request_id == "req_1"
    assert result.body == response_body("hi")
    assert result.facts.usage.total_tokens == 12
    assert seen[0].url == "http://upstream.test/v1/responses"
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    assert seen[0].content == BODY


async def test_x_api_key_header_style() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=response_body())

    await client_for(handler, auth_header="x-api-key").send(BODY, stream=False)
    assert seen[0].headers["x-api-key"] == "sk-test"
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        (error(404, "model_not_found"), ClientError, "model_not_found"),
        (error(400, None), ClientError, "x"),
        (httpx.Response(401, text="nope"), ClientError, "invalid_api_key"),
        (error(403, "forbidden"), ClientError, "forbidden"),
        (error(422, None), ClientError, "x"),
        (
            error(429, "rate_limit_exceeded", {"retry-after-ms": "250"}),
            RateLimited,
            "rate_limit_exceeded",
        ),
        (error(429, "insufficient_quota"), QuotaExceeded, "insufficient_quota"),
        (error(500, None), ServerError, "x"),
        (httpx.Response(503, text="<html>down</html>"), ServerError, "server_error"),
        (error(408, None), ServerError, "x"),
        (error(409, None), ServerError, "x"),
        (error(400, "busy", {"x-should-retry": "true"}), ServerError, "busy"),
        (error(500, "nope", {"x-should-retry": "false"}), ClientError, "nope"),
        (
            httpx.Response(200, text="<html>upstream error</html>"),
            InvalidResponse,
            "invalid_response",
        ),
        (httpx.Response(200, json={"unexpected": True}), InvalidResponse, "invalid_response"),
        (httpx.Response(200, json=[1, 2]), InvalidResponse, "invalid_response"),
        (
            httpx.Response(200, content=orjson.dumps(response_body())[:40]),
            InvalidResponse,
            "invalid_response",
        ),
    ],
)
async def test_classification(answer: httpx.Response, kind: type[Exception], code: str) -> None:
    with pytest.raises(kind) as info:
        await client_for(lambda _: answer).send(BODY, stream=False)
    assert getattr(info.value, "code", None) == code


async def test_http_error_keeps_status_and_body() -> None:
    with pytest.raises(ClientError) as info:
        await client_for(lambda _: error(404, "model_not_found", {"x-request-id": "req_9"})).send(
            BODY, stream=False
        )
    assert info.value.status_code == 404
    assert info.value.request_id == "req_9"
    assert info.value.body["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("slow"), UpstreamTimeout),
        # A connection that could not be made is a connection failure, whatever its cause.
        (httpx.ConnectTimeout("slow"), ConnectionFailed),
        (httpx.ConnectError("refused"), ConnectionFailed),
        (httpx.RemoteProtocolError("reset"), ConnectionFailed),
        (httpx.ReadError("reset"), ConnectionFailed),
    ],
)
async def test_transport_failures(exc: Exception, kind: type[Exception]) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(kind):
        await client_for(handler).send(BODY, stream=False)


def test_retry_after_forms() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert retry_after_seconds(httpx.Headers({"retry-after": "3"})) == 3.0
    date = email.utils.formatdate(time.time() + 10, usegmt=True)
    # An HTTP date has whole seconds: 9-10 s away, less whatever time passed since.
    assert 5 < (retry_after_seconds(httpx.Headers({"retry-after": date})) or 0) <= 10
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


def sse(*events: tuple[str, object]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {orjson.dumps(data).decode()}\n\n".encode() for name, data in events
    )


def stream_answer(payload: bytes) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "text/event-stream"
        return httpx.Response(200, content=payload, headers={"content-type": "text/event-stream"})

    return handler


async def test_stream_takes_the_completed_response() -> None:
    final = response_body("streamed")
    payload = sse(
        (
            "response.created",
            {"type": "response.created", "response": {**final, "status": "in_progress"}},
        ),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "str"}),
        ("response.completed", {"type": "response.completed", "response": final}),
    )
    result = await client_for(stream_answer(payload)).send(BODY, stream=True)
    assert result.body == final
    assert result.body["output_text"] == "streamed"


async def test_stream_error_event_is_final() -> None:
    payload = sse(("error", {"type": "error", "code": "server_overloaded", "message": "busy"}))
    with pytest.raises(StreamFailed) as info:
        await client_for(stream_answer(payload)).send(BODY, stream=True)
    assert info.value.code == "server_overloaded"


async def test_stream_failed_event() -> None:
    failed = {**response_body(), "status": "failed", "error": {"code": "bad", "message": "no"}}
    payload = sse(("response.failed", {"type": "response.failed", "response": failed}))
    with pytest.raises(StreamFailed, match="no"):
        await client_for(stream_answer(payload)).send(BODY, stream=True)


CREATED = sse(("response.created", {"type": "response.created", "response": response_body()}))


class BrokenOffStream(httpx.AsyncByteStream):
    """An event stream whose connection drops after its first bytes."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def broken_off(first: bytes) -> Callable[[httpx.Request], httpx.Response]:
    def handler(_: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=BrokenOffStream(first))

    return handler


@pytest.mark.parametrize(
    "answer",
    [
        stream_answer(CREATED),  # ends cleanly before response.completed
        stream_answer(CREATED + b"data: [DONE]\n\n"),  # says it is done, never completed
        stream_answer(CREATED + b'event: response.completed\ndata: {"type": "resp'),  # cut mid-line
        broken_off(CREATED),  # the connection drops mid-stream
    ],
    ids=["clean-end", "done-early", "mid-line", "connection-drop"],
)
async def test_truncated_stream_is_retryable_stream_interrupted(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    with pytest.raises(StreamInterrupted) as info:
        await client_for(answer).send(BODY, stream=True)
    assert info.value.code == "stream_interrupted"
    assert isinstance(info.value, RetryableError)


async def test_stream_request_answered_with_error_status() -> None:
    with pytest.raises(ClientError, match="boom"):
        await client_for(lambda _: error(404, "model_not_found")).send(BODY, stream=True)

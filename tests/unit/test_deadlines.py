"""Deadlines of one attempt, on a fake transport: RESPQ_REQUEST_TIMEOUT bounds the whole
exchange (connect to last byte, however the upstream trickles), RESPQ_STREAM_IDLE_TIMEOUT
the wait for each SSE event (keep-alive comments are not events); the half-read answer is
closed either way, and a batch whose upstream does this ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.errors import SettingsError, StreamInterrupted, UpstreamError, UpstreamTimeout
from respq.worker.config import WorkerConfig
from respq.worker.upstream import UpstreamClient, build_http_client

from helpers.factories import response_body
from helpers.workers import build_worker, run_burst

BODY = orjson.dumps({"model": "gpt-5.4", "input": "hi"})
SSE = {"content-type": "text/event-stream"}
GIVE_UP_S = 5.0


class Trickle(httpx.AsyncByteStream):
    """An answer body that sends ``chunk`` every ``every`` seconds, ``count`` times (for
    ever by default); ``closed`` is set when the client lets go of it."""

    def __init__(self, chunk: bytes, every: float, count: int | None = None) -> None:
        self.chunk = chunk
        self.every = every
        self.count = count
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while self.count is None or sent < self.count:
            yield self.chunk
            sent += 1
            await asyncio.sleep(self.every)

    async def aclose(self) -> None:
        self.closed = True


def event(kind: str, response: dict[str, object] | None = None) -> bytes:
    data: dict[str, object] = {"type": kind}
    if response is not None:
        data["response"] = response
    return f"event: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def client_answering(
    stream: httpx.AsyncByteStream, headers: dict[str, str] | None = None, **config: float
) -> UpstreamClient:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers or {}, stream=stream)

    cfg = WorkerConfig(base_url="http://upstream.test/v1", api_key="sk-test", **config)
    return UpstreamClient(cfg, build_http_client(cfg, httpx.MockTransport(handler)))


async def timed(send: Callable[[], Awaitable[object]]) -> tuple[UpstreamError, float]:
    """The UpstreamError ``send`` ends with, and how long it took (failing after
    GIVE_UP_S: without a deadline it would never end)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(GIVE_UP_S):
            await send()
    except UpstreamError as error:
        return error, time.monotonic() - started
    except TimeoutError:
        pytest.fail(f"still receiving after {GIVE_UP_S}s")
    pytest.fail("the send succeeded")


async def test_a_trickled_answer_ends_at_the_deadline_and_is_closed() -> None:
    body = Trickle(b" ", every=0.02)  # a 2xx body one byte at a time, never complete
    client = client_answering(body, request_timeout=0.3)
    error, took = await timed(lambda: client.send(BODY, stream=False))
    assert isinstance(error, UpstreamTimeout) and error.code == "request_timeout"
    assert "RESPQ_REQUEST_TIMEOUT" in error.message
    assert 0.3 <= took < 1.5
    assert body.closed


async def test_a_stream_that_keeps_sending_events_ends_at_the_total_deadline() -> None:
    body = Trickle(event("response.in_progress", response_body()), every=0.02)
    client = client_answering(body, SSE, request_timeout=0.4, stream_idle_timeout=5)
    error, took = await timed(lambda: client.send(BODY, stream=True))
    assert isinstance(error, UpstreamTimeout) and error.code == "request_timeout"
    assert 0.4 <= took < 1.5
    assert body.closed


async def test_the_idle_clock_restarts_with_each_event_not_with_keep_alives() -> None:
    final = response_body("slow but steady")

    class Paced(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for _ in range(6):  # 0.6 s in all, each event within the 0.25 s idle timeout
                yield event("response.in_progress", {**final, "status": "in_progress"})
                await asyncio.sleep(0.1)
            yield event("response.completed", final)

    client = client_answering(Paced(), SSE, request_timeout=10, stream_idle_timeout=0.25)
    assert (await client.send(BODY, stream=True)).body == final

    body = Trickle(b": keep-alive\n\n\n", every=0.02)
    client = client_answering(body, SSE, request_timeout=30, stream_idle_timeout=0.25)
    error, took = await timed(lambda: client.send(BODY, stream=True))
    assert isinstance(error, StreamInterrupted) and error.code == "stream_interrupted"
    assert "RESPQ_STREAM_IDLE_TIMEOUT" in error.message
    assert 0.25 <= took < 1.5
    assert body.closed


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_stream_idle_timeout_is_one_line_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPQ_STREAM_IDLE_TIMEOUT", value)
    with pytest.raises(SettingsError) as caught:
        WorkerConfig()
    assert str(caught.value).startswith(f"bad setting RESPQ_STREAM_IDLE_TIMEOUT='{value}': ")
    assert "\n" not in str(caught.value)


async def test_a_batch_of_trickled_and_keep_alive_answers_ends_after_its_attempts(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    sends: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        sends[body["input"]] = sends.get(body["input"], 0) + 1
        if body.get("stream"):
            return httpx.Response(200, headers=SSE, stream=Trickle(b": keep-alive\n\n", 0.02))
        return httpx.Response(200, stream=Trickle(b"{", every=0.02))

    batch = await fake_client.submit(
        [
            {"custom_id": "trickle", "body": {"model": "gpt-5.4", "input": "trickle"}},
            {
                "custom_id": "keep-alive",
                "body": {"model": "gpt-5.4", "input": "keep-alive", "stream": True},
            },
        ]
    )
    config = WorkerConfig(
        base_url="http://upstream.test/v1",
        queue_name=queue_name,
        request_timeout=0.3,
        stream_idle_timeout=0.2,
        max_attempts=2,
        retry_base=0.01,
        retry_cap=0.02,
    )
    worker = build_worker(config, redis_pool=fake_redis, transport=httpx.MockTransport(handler))
    await run_burst(worker, timeout=20)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.errors_by_code == {"request_timeout": 1, "stream_interrupted": 1}
    assert sends == {"trickle": 2, "keep-alive": 2}

"""Upstream storms over real HTTP (MockServer) with in-process burst workers on fakeredis:
5xx, 429, hangs, resets, truncated SSE and garbage 200s. Each request ends after a bounded
number of attempts as a success or a recorded error; the worker never dies."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.errors import ConnectionFailed, StreamInterrupted, UpstreamTimeout
from respq.contract.lines import is_success
from respq.mockapi import MockConfig, MockServer

from helpers.factories import tagged_items
from helpers.polling import wait_until_async
from helpers.shapes import code_of
from helpers.workers import build_worker, run_burst, worker_config


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="sk-storm", seed=7)) as server:
        yield server


STORM_WORKER: dict[str, Any] = {
    "api_key": "sk-storm",
    "retry_base": 0.05,
    "retry_cap": 0.2,
    "max_attempts": 8,
    "request_timeout": 5.0,
    "worker_in_flight": 64,
}


def sends(mock: MockServer) -> Counter[str]:
    return Counter(
        e["metadata"]["custom_id"] for e in mock.stats()["request_log"] if e.get("metadata")
    )


class Storm:
    """A batch of ``n`` requests (custom_ids s0, s1, ...) against mockapi failing as told,
    worked by one burst worker on fakeredis."""

    def __init__(
        self, client: BatchClient, redis: FakeRedis, mock: MockServer, queue_name: str
    ) -> None:
        self.client, self.redis, self.mock, self.queue_name = client, redis, mock, queue_name
        self.n = 0
        self.batch_id = ""

    async def submit(self, n: int, body: dict[str, Any] | None = None, **control: Any) -> None:
        """mockapi starts failing as ``control`` says (``mock.control``), then n requests
        (``body`` added to each) are submitted."""
        self.mock.control(**control)
        self.n = n
        self.batch_id = (await self.client.submit(tagged_items(n, "s", **(body or {})))).id

    async def work(self, **overrides: Any) -> None:
        """A burst worker (STORM_WORKER, ``overrides`` on top) works the batch off."""
        config = worker_config(self.mock, self.queue_name, **{**STORM_WORKER, **overrides})
        worker = build_worker(config, redis_pool=self.redis)
        await run_burst(worker)
        # The arq job never failed: every job completed (a crash would count as failed).
        assert worker.jobs_failed == 0

    async def lines(self) -> list[dict[str, Any]]:
        """The batch's lines, checked to be one for every request."""
        batch = await self.client.get(self.batch_id)
        info = await batch.status()
        assert info.status is BatchStatus.COMPLETED, info
        lines = [orjson.loads(raw) async for raw in batch.result_lines()]
        assert sorted(line["custom_id"] for line in lines) == sorted(f"s{i}" for i in range(self.n))
        assert info.request_counts.completed + info.request_counts.failed == self.n
        return lines

    async def run(self, **overrides: Any) -> list[dict[str, Any]]:
        await self.work(**overrides)
        return await self.lines()


@pytest.fixture
def storm(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> Storm:
    return Storm(fake_client, fake_redis, mock, queue_name)


async def heal_after(mock: MockServer, status: str, count: int) -> None:
    """End the storm once mockapi answered ``count`` times with ``status``."""

    async def reached() -> bool:
        return mock.stats()["by_status"].get(status, 0) >= count

    await wait_until_async(reached, 30, "the storm reaching its size", 0.01)
    mock.control(fail_rate=0.0)


async def test_5xx_storm_then_healthy_all_succeed_with_bounded_attempts(
    storm: Storm, mock: MockServer
) -> None:
    n = 40
    await storm.submit(n, fail_rate=1.0, fail_mix=["500", "503"])
    healer = asyncio.create_task(heal_after(mock, "500", 30))
    await storm.work(max_attempts=10)
    await healer
    lines = await storm.lines()
    assert all(is_success(line) for line in lines), [code_of(x) for x in lines]
    per_request = sends(mock)
    assert max(per_request.values()) <= 10
    print(f"\n5xx storm: {sum(per_request.values())} sends for {n} requests")


async def test_5xx_forever_ends_as_recorded_errors(storm: Storm, mock: MockServer) -> None:
    n = 10
    await storm.submit(n, fail_rate=1.0, fail_mix=["503"])
    lines = await storm.run(max_attempts=3)
    assert {code_of(line) for line in lines} == {"overloaded"}
    assert all(line["response"]["status_code"] == 503 for line in lines)
    assert set(sends(mock).values()) == {3}


async def test_429_storm_is_damped_by_the_shared_cool_down(storm: Storm, mock: MockServer) -> None:
    """A long 429 storm against many waiting requests. Each 429 asks for 100 ms
    (``retry-after-ms``), longer than the defer threshold, so a limited request gives its
    slot to the next one. With the shared cool-down that next one waits the cool-down out
    without sending: at most one 429 per slot per cool-down (under 50 here, bound 68).
    Without it every waiting request takes its turn at the upstream: each of the 80 meets a
    429 at least once, 120-350 in all."""
    n, attempts, slots = 80, 20, 4
    storm_s, retry_after_s = 1.5, 0.1
    await storm.submit(n, fail_rate=1.0, fail_mix=["429"])

    async def storm_for(seconds: float) -> None:
        await asyncio.sleep(seconds)  # the storm's length, not a wait for work
        mock.control(fail_rate=0.0)

    healer = asyncio.create_task(storm_for(storm_s))
    started = time.monotonic()
    await storm.work(
        max_attempts=attempts,
        retry_cap=retry_after_s,
        worker_in_flight=slots,
        defer_threshold=retry_after_s / 2,
    )
    await healer
    lines = await storm.lines()
    limited = mock.stats()["by_status"].get("429", 0)
    # A cool-down episode lasts at least retry_after_s, and while one is on nobody sends:
    # each slot meets at most one 429 per episode (+2: the first and the storm's end).
    bound = slots * int(storm_s / retry_after_s + 2)
    print(
        f"\n429 storm ({storm_s} s, Retry-After {retry_after_s * 1000:.0f} ms, {slots} slots, "
        f"{n} requests): {limited} upstream 429s (bound {bound}), "
        f"done in {time.monotonic() - started:.1f}s"
    )
    assert all(is_success(line) for line in lines), [code_of(x) for x in lines]
    assert max(sends(mock).values()) <= attempts
    assert limited <= bound


async def test_hangs_past_the_timeout_are_retried_then_succeed_or_time_out(
    storm: Storm, mock: MockServer
) -> None:
    n = 20
    await storm.submit(n, fail_rate=0.5, fail_mix=["hang"], hang_seconds=30)
    lines = await storm.run(request_timeout=0.5, max_attempts=3)
    codes = Counter(code_of(line) for line in lines)
    assert set(codes) <= {"ok", UpstreamTimeout.default_code}, codes
    assert codes["ok"] >= n // 2
    assert max(sends(mock).values()) <= 3
    hung = Counter(e["metadata"]["custom_id"] for e in mock.stats()["request_log"] if e["failure"])
    for line in lines:
        if not is_success(line):
            assert hung[line["custom_id"]] == 3  # timed out on every attempt


async def test_connection_resets_are_retried(storm: Storm, mock: MockServer) -> None:
    n = 30
    await storm.submit(n, fail_rate=0.5, fail_mix=["reset"])
    lines = await storm.run(max_attempts=10)
    assert all(is_success(line) for line in lines), [code_of(x) for x in lines]
    assert max(sends(mock).values()) <= 10
    assert mock.stats()["failures_injected"].get("reset", 0) > 0


async def test_connections_reset_on_every_attempt_end_as_connection_error(
    storm: Storm, mock: MockServer
) -> None:
    n, attempts = 6, 3
    await storm.submit(n, fail_rate=1.0, fail_mix=["reset"])
    lines = await storm.run(max_attempts=attempts)
    assert {code_of(line) for line in lines} == {ConnectionFailed.default_code}
    assert ConnectionFailed.default_code == "connection_error"
    assert set(sends(mock).values()) == {attempts}


async def test_truncated_sse_streams_are_retried(storm: Storm, mock: MockServer) -> None:
    # Half the streams stop before response.completed: retried until one comes whole.
    n = 30
    await storm.submit(n, {"stream": True}, fail_rate=0.5, fail_mix=["sse_truncated"])
    lines = await storm.run(max_attempts=10)
    injected = mock.stats()["failures_injected"].get("sse_truncated", 0)
    per_request = sends(mock)
    print(f"\ntruncated SSE: {injected} cut streams, {sum(per_request.values())} sends")
    assert injected > 0
    assert sum(per_request.values()) == n + injected  # each cut stream was sent again
    assert max(per_request.values()) <= 10
    for line in lines:
        assert is_success(line), code_of(line)
        assert line["response"]["body"]["status"] == "completed"
        assert line["response"]["body"]["usage"]["total_tokens"] > 0


async def test_streams_cut_on_every_attempt_end_as_stream_interrupted(
    storm: Storm, mock: MockServer
) -> None:
    n, attempts = 6, 3
    await storm.submit(n, {"stream": True}, fail_rate=1.0, fail_mix=["sse_truncated"])
    lines = await storm.run(max_attempts=attempts)
    assert {code_of(line) for line in lines} == {StreamInterrupted.default_code}
    assert StreamInterrupted.default_code == "stream_interrupted"
    assert set(sends(mock).values()) == {attempts}


@pytest.mark.parametrize("kind", ["garbage", "nonjson", "truncated"])
async def test_garbage_200_is_recorded_as_invalid_response(
    storm: Storm, mock: MockServer, kind: str
) -> None:
    n = 6
    await storm.submit(n, fail_rate=1.0, fail_mix=[kind])
    lines = await storm.run()
    assert {line["error"]["code"] for line in lines} == {"invalid_response"}
    assert all(line["response"] is None or line["response"]["status_code"] == 200 for line in lines)
    # A 200 that cannot be parsed is final: sent once, never paid for twice.
    assert sends(mock) == {f"s{i}": 1 for i in range(n)}
    info = await (await storm.client.get(storm.batch_id)).status()
    assert info.errors_by_code == {"invalid_response": n}

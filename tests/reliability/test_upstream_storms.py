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

from contract.lines import is_success
from mockapi import MockConfig, MockServer
from producer import BatchClient, BatchStatus
from worker import WorkerConfig
from worker.errors import ConnectionFailed, StreamInterrupted, UpstreamTimeout

from helpers.workers import build_worker, code_of, run_burst


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="sk-storm", seed=7)) as server:
        yield server


def worker_config(mock: MockServer, queue_name: str, **overrides: Any) -> WorkerConfig:
    values: dict[str, Any] = {
        "base_url": mock.base_url,
        "api_key": "sk-storm",
        "queue_name": queue_name,
        "retry_base": 0.05,
        "retry_cap": 0.2,
        "max_attempts": 8,
        "request_timeout": 5.0,
        "max_jobs": 64,
        **overrides,
    }
    return WorkerConfig(**values)


def items(n: int, **body: Any) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"s{i}",
            "body": {
                "model": "gpt-5.4",
                "input": f"q{i}",
                "metadata": {"custom_id": f"s{i}"},
                **body,
            },
        }
        for i in range(n)
    ]


def sends(mock: MockServer) -> Counter[str]:
    return Counter(
        e["metadata"]["custom_id"] for e in mock.stats()["request_log"] if e.get("metadata")
    )


async def run(
    fake_redis: FakeRedis, mock: MockServer, queue_name: str, timeout: float = 60, **overrides: Any
) -> None:
    worker = build_worker(worker_config(mock, queue_name, **overrides), redis_pool=fake_redis)
    await run_burst(worker, timeout=timeout)
    # The arq job never failed: every job completed (a crash would count as failed).
    assert worker.jobs_failed == 0


async def outcome(client: BatchClient, batch_id: str, n: int) -> list[dict[str, Any]]:
    batch = await client.get(batch_id)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED, info
    lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    assert sorted(line["custom_id"] for line in lines) == sorted(f"s{i}" for i in range(n))
    assert info.request_counts.completed + info.request_counts.failed == n
    return lines


async def heal_after(mock: MockServer, status: str, count: int) -> None:
    """End the storm once mockapi answered ``count`` times with ``status``."""
    deadline = time.monotonic() + 30
    while mock.stats()["by_status"].get(status, 0) < count:
        if time.monotonic() > deadline:
            raise AssertionError("storm never reached its size")
        await asyncio.sleep(0.01)
    mock.control(fail_rate=0.0)


async def test_5xx_storm_then_healthy_all_succeed_with_bounded_attempts(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    n = 40
    mock.control(fail_rate=1.0, fail_mix=["500", "503"])
    batch = await fake_client.submit(items(n))
    healer = asyncio.create_task(heal_after(mock, "500", 30))
    await run(fake_redis, mock, queue_name, max_attempts=10)
    await healer
    lines = await outcome(fake_client, batch.id, n)
    assert all(is_success(line) for line in lines), [code_of(x) for x in lines]
    per_request = sends(mock)
    assert max(per_request.values()) <= 10
    print(f"\n5xx storm: {sum(per_request.values())} sends for {n} requests")


async def test_5xx_forever_ends_as_recorded_errors(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    n = 10
    mock.control(fail_rate=1.0, fail_mix=["503"])
    batch = await fake_client.submit(items(n))
    await run(fake_redis, mock, queue_name, max_attempts=3)
    lines = await outcome(fake_client, batch.id, n)
    assert {code_of(line) for line in lines} == {"overloaded"}
    assert all(line["response"]["status_code"] == 503 for line in lines)
    assert set(sends(mock).values()) == {3}


async def test_429_storm_is_damped_by_the_shared_cool_down(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    """A long 429 storm against many waiting requests. Each 429 asks for 100 ms
    (``retry-after-ms``), longer than the defer threshold, so a limited request gives its
    slot to the next one. With the shared cool-down that next one waits the cool-down out
    without sending: at most one 429 per slot per cool-down (under 50 here, bound 68).
    Without it every waiting request takes its turn at the upstream: each of the 80 meets a
    429 at least once, 120-350 in all."""
    n, attempts, slots = 80, 20, 4
    storm_s, retry_after_s = 1.5, 0.1
    mock.control(fail_rate=1.0, fail_mix=["429"])
    batch = await fake_client.submit(items(n))

    async def storm_for(seconds: float) -> None:
        await asyncio.sleep(seconds)  # the storm's length, not a wait for work
        mock.control(fail_rate=0.0)

    healer = asyncio.create_task(storm_for(storm_s))
    started = time.monotonic()
    await run(
        fake_redis,
        mock,
        queue_name,
        max_attempts=attempts,
        retry_cap=retry_after_s,
        max_jobs=slots,
        defer_threshold=retry_after_s / 2,
    )
    await healer
    lines = await outcome(fake_client, batch.id, n)
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
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    n = 20
    mock.control(fail_rate=0.5, fail_mix=["hang"], hang_seconds=30)
    batch = await fake_client.submit(items(n))
    await run(fake_redis, mock, queue_name, request_timeout=0.5, max_attempts=3)
    lines = await outcome(fake_client, batch.id, n)
    codes = Counter(code_of(line) for line in lines)
    assert set(codes) <= {"ok", UpstreamTimeout.default_code}, codes
    assert codes["ok"] >= n // 2
    assert max(sends(mock).values()) <= 3
    hung = Counter(e["metadata"]["custom_id"] for e in mock.stats()["request_log"] if e["failure"])
    for line in lines:
        if not is_success(line):
            assert hung[line["custom_id"]] == 3  # timed out on every attempt


async def test_connection_resets_are_retried(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    n = 30
    mock.control(fail_rate=0.5, fail_mix=["reset"])
    batch = await fake_client.submit(items(n))
    await run(fake_redis, mock, queue_name, max_attempts=10)
    lines = await outcome(fake_client, batch.id, n)
    assert all(is_success(line) for line in lines), [code_of(x) for x in lines]
    assert max(sends(mock).values()) <= 10
    assert mock.stats()["failures_injected"].get("reset", 0) > 0


async def test_connections_reset_on_every_attempt_end_as_connection_error(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    n, attempts = 6, 3
    mock.control(fail_rate=1.0, fail_mix=["reset"])
    batch = await fake_client.submit(items(n))
    await run(fake_redis, mock, queue_name, max_attempts=attempts)
    lines = await outcome(fake_client, batch.id, n)
    assert {code_of(line) for line in lines} == {ConnectionFailed.default_code}
    assert ConnectionFailed.default_code == "connection_error"
    assert set(sends(mock).values()) == {attempts}


async def test_truncated_sse_streams_are_retried(
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    # Half the streams stop before response.completed: retried until one comes whole.
    n = 30
    mock.control(fail_rate=0.5, fail_mix=["sse_truncated"])
    batch = await fake_client.submit(items(n, stream=True))
    await run(fake_redis, mock, queue_name, max_attempts=10)
    lines = await outcome(fake_client, batch.id, n)
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
    fake_client: BatchClient, fake_redis: FakeRedis, mock: MockServer, queue_name: str
) -> None:
    n, attempts = 6, 3
    mock.control(fail_rate=1.0, fail_mix=["sse_truncated"])
    batch = await fake_client.submit(items(n, stream=True))
    await run(fake_redis, mock, queue_name, max_attempts=attempts)
    lines = await outcome(fake_client, batch.id, n)
    assert {code_of(line) for line in lines} == {StreamInterrupted.default_code}
    assert StreamInterrupted.default_code == "stream_interrupted"
    assert set(sends(mock).values()) == {attempts}


@pytest.mark.parametrize("kind", ["garbage", "nonjson", "truncated"])
async def test_garbage_200_is_recorded_as_invalid_response(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    mock: MockServer,
    queue_name: str,
    kind: str,
) -> None:
    n = 6
    mock.control(fail_rate=1.0, fail_mix=[kind])
    batch = await fake_client.submit(items(n))
    await run(fake_redis, mock, queue_name)
    lines = await outcome(fake_client, batch.id, n)
    assert {line["error"]["code"] for line in lines} == {"invalid_response"}
    assert all(line["response"] is None or line["response"]["status_code"] == 200 for line in lines)
    # A 200 that cannot be parsed is final: sent once, never paid for twice.
    assert sends(mock) == {f"s{i}": 1 for i in range(n)}
    info = await (await fake_client.get(batch.id)).status()
    assert info.errors_by_code == {"invalid_response": n}

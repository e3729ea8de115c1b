"""A job that runs again, whose write-back Redis refuses, or whose record is not JSON:
each request still counted exactly once, and nothing but JSON ever run."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, ARQ_JOB_PREFIX, BatchKeys

from helpers.factories import response_body
from helpers.polling import wait_until_async
from helpers.upstream import Upstream, config, drain, lines
from helpers.workers import build_worker, dispatch_all, run_burst


async def test_resubmit_with_same_batch_id_enqueues_nothing_twice(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    items = [{"custom_id": f"c{i}", "body": {"model": "gpt-5.4", "input": "x"}} for i in range(10)]
    first = await fake_client.submit(items, batch_id="batch_same")
    waiting = await fake_redis.llen(BatchKeys("batch_same").jobs)
    again = await fake_client.submit(items, batch_id="batch_same")
    assert again.id == first.id
    assert await fake_redis.llen(BatchKeys("batch_same").jobs) == waiting
    assert (await again.status()).request_counts.total == 10
    upstream = Upstream()
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 10
    more = await fake_client.submit(
        [*items, {"custom_id": "c10", "body": {"model": "gpt-5.4", "input": "x"}}],
        batch_id="batch_same",
    )
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 11
    info = await more.status()
    assert (info.request_counts.total, info.request_counts.completed, info.status) == (
        11,
        11,
        "completed",
    )


async def test_job_executed_twice_records_once_and_calls_once(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(4)])
    (job_id,) = [j.encode() for j in await dispatch_all(fake_redis, queue_name)]
    record = await fake_redis.get(ARQ_JOB_PREFIX + job_id.decode())
    upstream = Upstream()
    await drain(fake_redis, queue_name, upstream)
    # The same job again, as arq does after a worker died before finishing it.
    await fake_redis.set(ARQ_JOB_PREFIX + job_id.decode(), record)
    await fake_redis.zadd(queue_name, {job_id: time.time() * 1000})
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 4
    info = await batch.status()
    assert (info.request_counts.completed, info.usage.total_tokens) == (4, 48)
    assert len(await lines(fake_client, batch.id)) == 4


async def test_a_job_rerun_while_its_first_run_is_still_sending_counts_each_request_once(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    """The at-least-once window: a live worker's lease lapses (it lost Redis for longer
    than the lease) and its job runs again while the first run's requests are still out.
    Both runs send; the first answer recorded counts and the late one changes nothing."""
    release = asyncio.Event()
    sent: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        cid = orjson.loads(request.content)["input"]
        sent[cid] += 1
        if sent[cid] == 1:  # the first run's answers arrive only after the rerun's
            await release.wait()
            return httpx.Response(200, json=response_body("late", tokens=(50, 70)))
        return httpx.Response(200, json=response_body("rerun"))

    n = 4
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(n)])
    transport = httpx.MockTransport(handler)
    cfg = config(queue_name)
    # A worker never runs a job twice at once itself: a second worker takes the rerun.
    first = build_worker(cfg, redis_pool=fake_redis, transport=transport, burst=False)
    running = asyncio.create_task(first.main())

    async def first_run_sending() -> bool:
        return len(sent) == n

    async def first_run_done() -> bool:
        return first.jobs_complete == 1

    try:
        await wait_until_async(first_run_sending)
        # The first worker loses Redis: its lease renewals stop, the lease lapses and
        # arq's in-progress key is gone, so the job is free to run again.
        await first.ctx["respq_leases"].stop()
        job_id = (await fake_redis.hget(batch.keys.inflight, "line-1")).decode()
        await fake_redis.delete(ARQ_IN_PROGRESS_PREFIX + job_id)
        # Another worker takes the job and runs it to the end.
        await run_burst(build_worker(cfg, redis_pool=fake_redis, transport=transport))
        assert (await batch.status()).request_counts.completed == n
        release.set()
        await wait_until_async(first_run_done)
    finally:
        release.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await first.close()
    assert sent == {f"x{i}": 2 for i in range(n)}  # the window: each was sent twice
    info = await batch.status()
    assert (info.status, info.request_counts.completed, info.request_counts.failed) == (
        BatchStatus.COMPLETED,
        n,
        0,
    )
    assert info.usage.total_tokens == n * 12  # the rerun's answers, counted once
    assert info.usage_by_model["gpt-5.4"].requests == n
    out = await lines(fake_client, batch.id)
    assert [line["response"]["body"]["output_text"] for line in out] == ["rerun"] * n


async def test_pickled_job_is_refused_not_run(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str, tmp_path: Any
) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    await fake_redis.set(
        ARQ_JOB_PREFIX + "evil", pickle.dumps({"f": "run_requests", "x": Exploit()})
    )
    await fake_redis.zadd(queue_name, {"evil": time.time() * 1000})
    await drain(fake_redis, queue_name, Upstream())
    assert not marker.exists()
    assert await fake_redis.zcard(queue_name) == 0


async def test_a_refused_write_back_is_kept_and_written_without_sending_again(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import OutOfMemoryError

    from respq.worker.results import Result, ResultWriter

    real_write = ResultWriter.write
    # Redis gone, then at maxmemory, then accepting again.
    refusals = iter(
        [RedisConnectionError("Redis went away"), OutOfMemoryError("command not allowed")]
    )
    refused: list[Result] = []

    async def flaky_write(self: ResultWriter, batch_id: str, results: list[Result]) -> list[int]:
        refusal = next(refusals, None)
        if refusal is not None:
            refused.extend(results)
            raise refusal
        return await real_write(self, batch_id, results)

    monkeypatch.setattr(ResultWriter, "write", flaky_write)
    upstream = Upstream()
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(3)])
    await drain(fake_redis, queue_name, upstream)
    info = await batch.status()
    assert (info.status, info.request_counts.completed) == ("completed", 3)
    assert info.usage.total_tokens == 3 * 12
    assert len(await lines(fake_client, batch.id)) == 3
    assert refused
    assert len(upstream.calls) == 3  # the answers were kept, not asked for again

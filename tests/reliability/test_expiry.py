"""The completion window: requests not started in time end as ``batch_expired``, the
batch ends ``expired`` and the results finished before the window passed are kept."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.mockapi import MockConfig, MockServer
from respq.worker import WorkerConfig, worker_options
from respq.worker.dispatch import DispatchingWorker

from helpers.workers import run_burst


def burst_worker(fake_redis: FakeRedis, config: WorkerConfig, **kwargs: Any) -> DispatchingWorker:
    options = worker_options(config)
    options.pop("redis_settings")
    options["ctx"] = {"respq_config": config}
    return DispatchingWorker(
        **options, redis_pool=fake_redis, burst=True, handle_signals=False, **kwargs
    )


@pytest.mark.slow
async def test_window_passes_with_no_worker_running(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    n = 12
    with MockServer(MockConfig()) as mock:
        config = WorkerConfig(base_url=mock.base_url, queue_name=queue_name, worker_in_flight=4)
        batch = await fake_client.submit(
            [
                {"custom_id": f"e{i}", "body": {"model": "gpt-5.4", "input": f"q{i}"}}
                for i in range(n)
            ],
        )
        # The shortest window is 24h: this one is made to end two seconds from now.
        await fake_redis.hset(batch.keys.meta, "expires_at", int(time.time()) + 2)
        # Some requests run in time: one job of chunk_size (4) requests.
        await run_burst(burst_worker(fake_redis, config, max_burst_jobs=1), timeout=30)
        early = await batch.status()
        assert early.request_counts.completed == 4
        expires_at = early.expires_at
        assert expires_at is not None
        # The window passes with no worker running (a deadline, not a wait for work).
        while time.time() <= expires_at + 1:
            time.sleep(0.05)
        await run_burst(burst_worker(fake_redis, config), timeout=30)
        sent = mock.stats()["requests"]
    info = await batch.status()
    lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    assert info.status is BatchStatus.EXPIRED
    assert info.expired_at is not None
    assert (info.request_counts.completed, info.request_counts.failed) == (4, n - 4)
    assert info.errors_by_code == {"batch_expired": n - 4}
    assert sent == 4  # nothing was sent after the window
    assert len(lines) == n
    ok = [line for line in lines if line["error"] is None]
    assert len(ok) == 4 and all(line["response"]["status_code"] == 200 for line in ok)
    assert info.usage.total_tokens == sum(
        line["response"]["body"]["usage"]["total_tokens"] for line in ok
    )
    expired = [line for line in lines if line["error"] is not None]
    assert {line["error"]["code"] for line in expired} == {"batch_expired"}
    assert all(line["response"] is None for line in expired)

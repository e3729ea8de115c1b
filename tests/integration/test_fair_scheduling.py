"""Fair scheduling end to end on the real Redis, with real arq workers and mockapi over
HTTP: a small batch behind a large backlog, priorities, and a cap on requests in flight
across two workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from respq import BatchClient, BatchStatus
from respq.mockapi import MockConfig, MockServer
from respq.worker import WorkerConfig

from helpers.databases import Database
from helpers.factories import items
from helpers.polling import wait_until_async
from helpers.workers import build_worker, cancel_tasks

pytestmark = pytest.mark.integration


@asynccontextmanager
async def workers(
    db: Database, upstream: MockServer, queue_name: str, count: int = 1, **settings: Any
) -> AsyncIterator[None]:
    """``count`` long-running in-process workers, closed on exit."""
    config = WorkerConfig(
        base_url=upstream.base_url, api_key="test-key", queue_name=queue_name, **settings
    )
    running = [build_worker(config, db=db, burst=False) for _ in range(count)]
    tasks = [asyncio.create_task(w.main()) for w in running]
    try:
        yield
    finally:
        # arq's close() cancels the job tasks and then gathers them: their CancelledError
        # is the close, not a failure.
        await asyncio.gather(*(w.close() for w in running), return_exceptions=True)
        await cancel_tasks(*tasks)


def done(client: BatchClient, batch_id: str) -> Callable[[], Any]:
    async def check() -> bool:
        info = await (await client.get(batch_id)).status()
        return info.status is BatchStatus.COMPLETED

    return check


@pytest.mark.slow
async def test_a_small_batch_behind_a_large_one_finishes_within_seconds(
    real_client: BatchClient, db: Database, queue_name: str
) -> None:
    # 1 worker, 16 slots, 0.2 s answers: the 1,500-request batch takes about 19 s; the
    # 5 requests submitted 1 s after it must not wait for it (FIFO took ~19 s).
    with MockServer(MockConfig(latency=0.2)) as upstream:
        async with workers(db, upstream, queue_name, worker_in_flight=16):
            big = await real_client.submit(items(1500, text="big "))
            await asyncio.sleep(1.0)
            small = await real_client.submit(items(5, text="small "))
            submitted = time.monotonic()
            await wait_until_async(done(real_client, small.id), timeout=30)
            small_s = time.monotonic() - submitted
            assert (await big.status()).status is BatchStatus.IN_PROGRESS
            await wait_until_async(done(real_client, big.id), timeout=120)
    assert small_s < 3.0, f"the small batch took {small_s:.1f}s behind the large one"
    info = await big.status()
    assert (info.request_counts.completed, info.request_counts.failed) == (1500, 0)


async def test_a_higher_priority_gets_the_larger_share(
    real_client: BatchClient, db: Database, queue_name: str
) -> None:
    with MockServer(MockConfig(latency=0.05)) as upstream:
        low = await real_client.submit(items(160, text="low "))
        high = await real_client.submit(items(160, text="high "), priority=2)  # 4x the share
        async with workers(db, upstream, queue_name, worker_in_flight=8, chunk_size=4):
            await wait_until_async(done(real_client, high.id), timeout=60)
            at_high_end = (await low.status()).done
            await wait_until_async(done(real_client, low.id), timeout=60)
    # With 4x the weight the high batch got about 4/5 of the requests while it ran.
    assert at_high_end <= 160 * 0.5, at_high_end


async def test_max_in_flight_holds_across_workers_without_holding_back_others(
    real_client: BatchClient, db: Database, queue_name: str
) -> None:
    with MockServer(MockConfig(latency=0.05)) as upstream:
        capped = await real_client.submit(items(60, text="capped "), max_in_flight=3)
        async with workers(db, upstream, queue_name, count=2, worker_in_flight=16, chunk_size=4):
            await wait_until_async(done(real_client, capped.id), timeout=60)
            capped_peak = upstream.stats()["max_in_flight"]
            upstream.reset()
            free = await real_client.submit(items(60, text="free "))
            await wait_until_async(done(real_client, free.id), timeout=60)
            free_peak = upstream.stats()["max_in_flight"]
    assert capped_peak <= 3
    assert free_peak > 3  # the cap is the batch's, not the workers'
    info = await capped.status()
    assert (info.request_counts.completed, info.max_in_flight) == (60, 3)

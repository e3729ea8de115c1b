"""Account-level failures (a key that goes bad, an exhausted quota) pause the batch after a
few in a row instead of failing it request by request; `resume` with a good key finishes
it, and `retry --code` re-runs the few that failed. Real Redis, a real arq worker,
mockapi over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from respq import BatchClient, BatchStatus
from respq.mockapi import MockConfig, MockServer
from respq.worker import WorkerConfig

from helpers.databases import Database
from helpers.polling import wait_until_async
from helpers.workers import build_worker, cancel_tasks, worker_config

pytestmark = pytest.mark.integration


@pytest.fixture
def upstream() -> Any:
    with MockServer(MockConfig(api_key="test-key", latency=0.02)) as server:
        yield server


async def test_a_key_that_goes_bad_pauses_the_batch_and_resume_finishes_it(
    real_client: BatchClient, db: Database, upstream: MockServer, queue_name: str
) -> None:
    n = 200
    batch = await real_client.submit([{"model": "gpt-5.4", "input": f"q{i}"} for i in range(n)])
    config = worker_config(
        upstream, queue_name, api_key="test-key", worker_in_flight=16, chunk_size=4
    )
    worker = build_worker(config, db=db, burst=False)
    running = asyncio.create_task(worker.main())
    try:

        async def some_done() -> bool:
            return (await batch.status()).request_counts.completed >= 20

        await wait_until_async(some_done, timeout=30)
        upstream.control(fail_rate=1.0, fail_mix=["401"])  # the key is revoked mid-batch

        async def paused() -> bool:
            return (await batch.status()).status is BatchStatus.PAUSED

        await wait_until_async(paused, timeout=30)
        recorded = config.account_error_pause - 1

        async def failures_written() -> bool:  # the write-back runs behind the pause
            return (await batch.status()).request_counts.failed >= recorded

        await wait_until_async(failures_written, timeout=10)
        info = await batch.status()
        assert info.pause_reason is not None and "invalid_api_key" in info.pause_reason
        # Only the answers before the pause are failures; the rest of the batch waits.
        assert info.errors_by_code == {"invalid_api_key": recorded}
        await asyncio.sleep(0.5)  # the pause holds: in-flight ones were handed back
        held = await batch.status()
        assert held.done == info.done and held.errors_by_code == info.errors_by_code
        sends_while_paused = upstream.stats()["requests"]
        await asyncio.sleep(0.5)
        assert upstream.stats()["requests"] == sends_while_paused  # nothing more is sent

        upstream.control(fail_rate=0.0)  # a good key again
        await batch.resume()
        done = await batch.wait(timeout=60)
        assert done.status is BatchStatus.COMPLETED
        assert done.request_counts.failed == config.account_error_pause - 1
        assert done.request_counts.completed == n - done.request_counts.failed

        assert await batch.retry(codes=["invalid_api_key"]) == done.request_counts.failed
        final = await batch.wait(timeout=30)
        assert (final.request_counts.completed, final.request_counts.failed) == (n, 0)
        assert final.errors_by_code == {}
    finally:
        await worker.close()
        await cancel_tasks(running)


async def test_without_the_pause_every_request_fails_on_its_own(
    real_client: BatchClient, db: Database, upstream: MockServer, queue_name: str
) -> None:
    # RESPQ_ACCOUNT_ERROR_PAUSE=0 turns the pause off: each request records its 401.
    upstream.control(fail_rate=1.0, fail_mix=["quota"])
    batch = await real_client.submit([{"model": "gpt-5.4", "input": f"q{i}"} for i in range(8)])
    config = WorkerConfig(
        base_url=upstream.base_url,
        api_key="test-key",
        queue_name=queue_name,
        account_error_pause=0,
    )
    worker = build_worker(config, db=db)
    await asyncio.wait_for(worker.main(), 30)
    await worker.close()
    info = await batch.wait(timeout=10)
    assert info.errors_by_code == {"insufficient_quota": 8}

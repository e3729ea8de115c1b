"""A job run's lease (worker/job_lease.py, renew.lua, confirm.lua) on fakeredis: the claim
writes the run's token and overdue time, renewals tell a held lease from a lost one, and a
run whose local lease clock ran out (a frozen process waking up) asks Redis before it sends
and sends nothing another worker has taken over."""

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
from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, BatchKeys
from respq.contract.errors import LeaseLost
from respq.contract.lines import error_line
from respq.worker import WorkerConfig
from respq.worker.job_lease import InFlightBounds, JobLease, lease_scripts
from respq.worker.lease import LeaseKeeper
from respq.worker.results import Result, ResultWriter
from respq.worker.runner import RequestRunner
from respq.worker.store import WorkerStore

from helpers.factories import response_body
from helpers.polling import wait_until_async
from helpers.workers import build_worker, cancel_tasks, dispatch_all, run_burst

BOUNDS = InFlightBounds(lease_s=30, request_s=100, job_s=1000)


async def claimed_run(
    fake_client: BatchClient, redis: FakeRedis, queue_name: str, n: int = 3
) -> tuple[JobLease, WorkerStore]:
    """A batch of ``n`` requests (at most fake_client's job size) in one job that arq has
    picked (its in-progress key set) and one run has claimed."""
    batch = await fake_client.submit(
        [{"custom_id": f"c{i}", "body": {"model": "m", "input": "x"}} for i in range(n)]
    )
    (job_id,) = await dispatch_all(redis, queue_name)
    await redis.set(ARQ_IN_PROGRESS_PREFIX + job_id, b"1", px=60_000)
    store = WorkerStore(redis, queue_name=queue_name, result_ttl=3600)
    lease = JobLease(lease_scripts(redis), batch.id, job_id, BOUNDS)
    claim = await store.claim(
        batch.id, job_id, [f"c{i}" for i in range(n)], lease_ms=30_000, lease_value=lease.value()
    )
    lease.claimed(item.custom_id for item in claim.work)
    return lease, store


async def test_the_claim_and_each_renewal_write_the_runs_token_and_overdue_time(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    lease, _ = await claimed_run(fake_client, fake_redis, queue_name)
    key = lease.progress_key
    token, overdue_at = (await fake_redis.get(key)).decode().split(":")
    assert token == lease.token
    # nothing sent yet: due when the job itself must have ended
    assert int(overdue_at) == lease.claimed_ms + BOUNDS.job_s * 1000
    assert 29_000 < await fake_redis.pttl(key) <= 30_000  # cut from arq's 60 s to the lease
    lease.start("c1")
    keeper = LeaseKeeper(fake_redis, lease_seconds=30, in_flight=lambda: 1, runs={"j": lease})
    await keeper.renew_leases()
    _, overdue_at = (await fake_redis.get(key)).decode().split(":")
    assert int(overdue_at) == lease.started["c1"] + BOUNDS.request_s * 1000


async def test_renewal_tells_a_held_lease_from_a_restored_and_a_lost_one(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    lease, _ = await claimed_run(fake_client, fake_redis, queue_name)
    keeper = LeaseKeeper(fake_redis, lease_seconds=30, in_flight=lambda: 1, runs={"j": lease})
    lease.held_until = 0.0
    await keeper.renew_leases()
    assert lease.held_until > time.monotonic() and not lease.doubtful and not lease.lost

    await fake_redis.delete(lease.progress_key)  # lapsed: another run may have come and gone
    await keeper.renew_leases()
    assert (await fake_redis.get(lease.progress_key)).decode().startswith(lease.token + ":")
    assert lease.doubtful and not lease.lost

    await fake_redis.set(lease.progress_key, b"another-run:0")  # taken over
    await keeper.renew_leases()
    assert lease.lost
    assert await fake_redis.get(lease.progress_key) == b"another-run:0"


async def test_a_run_asks_redis_only_once_its_lease_clock_has_run_out(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    lease, store = await claimed_run(fake_client, fake_redis, queue_name, n=4)
    asked = 0
    real_ask = lease._ask

    async def counted() -> None:
        nonlocal asked
        asked += 1
        await real_ask()

    lease._ask = counted  # type: ignore[method-assign]
    for cid in ("c0", "c1", "c2"):
        await lease.confirm(cid)
    assert asked == 0  # the lease is fresh: no round trip per send

    # Frozen past the lease: the key lapsed, another run recorded c0, and a retry moved c1
    # to a job of its own; c2 and c3 are still this run's.
    await fake_redis.delete(lease.progress_key)
    line = error_line("c0", "server_error", "x")
    await ResultWriter(store).record(lease.batch_id, Result("c0", line))
    await fake_redis.hset(BatchKeys(lease.batch_id).owner, "c1", "elsewhere")
    lease.held_until = time.monotonic() - 1  # the monotonic clock jumped on waking
    results = await asyncio.gather(
        *(lease.confirm(cid) for cid in ("c0", "c1", "c2", "c3")), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["LeaseLost", "LeaseLost", "NoneType", "NoneType"]
    assert asked == 1  # one question for the whole job
    assert lease.held_until > time.monotonic()

    await fake_redis.set(lease.progress_key, b"another-run:0")
    lease.held_until = time.monotonic() - 1
    with pytest.raises(LeaseLost):
        await lease.confirm("c3")
    assert lease.lost


async def test_a_worker_waking_from_a_freeze_sends_nothing_another_worker_took_over(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    sent: Counter[str] = Counter()
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        cid = orjson.loads(request.content)["input"]
        sent[cid] += 1
        if sent[cid] == 1 and cid == "x0":  # on the wire when the first worker froze
            await release.wait()
        return httpx.Response(200, json=response_body(cid))

    n = 4
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(n)])
    transport = httpx.MockTransport(handler)
    settings: dict[str, Any] = {
        "base_url": "http://upstream.test/v1",
        "queue_name": queue_name,
        "worker_in_flight": 1,  # x1..x3 wait for the slot x0 holds
        "lease_seconds": 3,
    }
    first = build_worker(
        WorkerConfig(**settings), redis_pool=fake_redis, transport=transport, burst=False
    )
    running = asyncio.create_task(first.main())
    try:

        async def x0_on_the_wire() -> bool:
            return sent["x0"] == 1

        await wait_until_async(x0_on_the_wire)
        # Frozen: no renewals, the lease lapses, and another worker runs the job.
        await first.ctx["respq_leases"].stop()
        runner: RequestRunner = first.ctx["respq_runner"]
        (run,) = runner.runs.values()
        await fake_redis.delete(run.progress_key)
        await run_burst(
            build_worker(WorkerConfig(**settings), redis_pool=fake_redis, transport=transport)
        )
        assert (await batch.status()).status is BatchStatus.COMPLETED
        # Awake again: its clock has jumped past the lease; x0's answer arrives.
        run.held_until = time.monotonic() - 1
        release.set()

        async def first_run_done() -> bool:
            return first.jobs_complete == 1

        await wait_until_async(first_run_done)
    finally:
        release.set()
        await cancel_tasks(running)
        await first.close()
    # x0 was on the wire when the worker froze (sent twice, the at-least-once window);
    # x1..x3 waited for a slot and were left to the worker that took the job over.
    assert sent == {"x0": 2, "x1": 1, "x2": 1, "x3": 1}
    info = await batch.status()
    assert (info.request_counts.completed, info.usage.total_tokens) == (n, n * 12)

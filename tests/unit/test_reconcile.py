"""The reconciler and the batch audit on fakeredis: stranded requests (their job lost by
Redis or dropped by arq) are found and queued again exactly once, even with several
reconcilers at once; counters are checked against the stored results; parked jobs count
as queued; a request re-queued too often ends as worker_error."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.audit import MAX_RESCUES, Auditor
from respq.contract.constants import ACTIVE_KEY, ARQ_JOB_PREFIX, BatchKeys
from respq.worker import WorkerConfig
from respq.worker.reconcile import Reconciler
from respq.worker.store import WorkerStore

from helpers.factories import items, response_body
from helpers.polling import wait_until_async
from helpers.workers import build_worker, dispatch_all, run_burst

LEASE_S = 0.4  # the reconciler's periods scale with it: stall 0.1 s, turn 0.07 s


def reconciler(redis: FakeRedis, queue_name: str) -> Reconciler:
    store = WorkerStore(redis, queue_name=queue_name, result_ttl=3600, chunk_size=4)
    return Reconciler(store, lease_seconds=LEASE_S)


async def jobs_of(redis: FakeRedis, queue_name: str) -> dict[str, list[str]]:
    """job id -> the custom_ids its record carries, for every queued job."""
    out: dict[str, list[str]] = {}
    await dispatch_all(redis, queue_name)
    for raw in await redis.zrange(queue_name, 0, -1):
        record = await redis.get(ARQ_JOB_PREFIX + raw.decode())
        if record is not None:
            out[raw.decode()] = orjson.loads(record)["a"][1]
    return out


async def lose_job(redis: FakeRedis, queue_name: str, job_id: str, *, claimed: bool) -> None:
    """What a cut AOF tail or arq dropping a job leaves: the job gone, its requests
    still marked in flight by it (claimed) or held by nothing at all."""
    batch_id = job_id.split(":")[0]
    cids = orjson.loads(await redis.get(ARQ_JOB_PREFIX + job_id))["a"][1]
    await redis.delete(ARQ_JOB_PREFIX + job_id)
    await redis.zrem(queue_name, job_id)
    if claimed:
        await redis.hset(BatchKeys(batch_id).inflight, mapping=dict.fromkeys(cids, job_id))


async def lose_every_job(redis: FakeRedis, queue_name: str) -> None:
    for job_id in await jobs_of(redis, queue_name):
        await lose_job(redis, queue_name, job_id, claimed=True)


async def finish(fake_redis: FakeRedis, queue_name: str) -> None:
    """Run a burst worker over the queue."""
    config = WorkerConfig(base_url="http://upstream.test/v1", queue_name=queue_name)
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=response_body()))
    await run_burst(build_worker(config, redis_pool=fake_redis, transport=transport))


async def test_claims_of_a_lost_job_are_requeued_at_once(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(10, cid="r"))
    jobs = await jobs_of(fake_redis, queue_name)
    lost = sorted(jobs)[0]
    await lose_job(fake_redis, queue_name, lost, claimed=True)
    auditor = Auditor(fake_redis, queue_name=queue_name, chunk_size=4)
    before = await auditor.requests(batch.id)
    assert (before.stranded, before.unowned, before.recorded) == (4, 6, 0)
    assert set(before.stranded_ids) == set(jobs[lost])

    assert await reconciler(fake_redis, queue_name).tick() == 4  # no stall needed
    after = await auditor.requests(batch.id)
    assert (after.stranded, after.queued) == (0, 4)
    await finish(fake_redis, queue_name)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED and info.request_counts.completed == 10
    lines = [line.custom_id async for line in batch.results()]
    assert sorted(lines) == sorted(f"r{i}" for i in range(10))
    assert info.usage.total_tokens == 10 * 12


async def test_requests_whose_job_vanished_unclaimed_are_found_once_the_batch_stalls(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(10, cid="r"))
    lost = sorted(await jobs_of(fake_redis, queue_name))[1]
    await lose_job(fake_redis, queue_name, lost, claimed=False)
    # only its other jobs can run: the batch stops short
    await finish(fake_redis, queue_name)
    assert (await batch.status()).request_counts.completed == 6
    await fake_redis.zadd(ACTIVE_KEY, {batch.id: 0})  # due now (a claim set it a lease on)
    rec = reconciler(fake_redis, queue_name)
    assert await rec.tick() == 0  # first look: progress noted, no walk yet
    found: list[int] = []

    async def requeued() -> bool:
        found.append(await rec.tick())
        return found[-1] > 0

    await wait_until_async(requeued, timeout=5, interval=0.05)
    assert found[-1] == 4
    await finish(fake_redis, queue_name)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED and info.request_counts.completed == 10
    assert len([line async for line in batch.results()]) == 10


async def test_several_reconcilers_requeue_each_request_once(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(8, cid="r"))
    await lose_every_job(fake_redis, queue_name)
    await fake_redis.zadd(ACTIVE_KEY, {batch.id: 0})
    counts = await asyncio.gather(*(reconciler(fake_redis, queue_name).tick() for _ in range(4)))
    assert sum(counts) == 8
    jobs = await jobs_of(fake_redis, queue_name)
    carried = [cid for cids in jobs.values() for cid in cids]
    assert sorted(carried) == sorted(f"r{i}" for i in range(8))  # each exactly once
    assert all(":r:" in job_id for job_id in jobs)


async def test_parked_jobs_count_as_queued(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(4, cid="r"))
    keys = batch.keys
    await fake_redis.hset(keys.meta, "status", "paused")
    await fake_redis.hset(keys.owner, mapping={f"r{i}": "B:p:1" for i in range(4)})
    await fake_redis.hset(keys.parked, "B:p:1", b"{}")
    await fake_redis.delete(queue_name)
    audit = await Auditor(fake_redis, queue_name=queue_name).requests(batch.id, repair=2)
    assert (audit.parked, audit.stranded, audit.requeued) == (4, 0, 0)
    await fake_redis.hdel(keys.parked, "B:p:1")  # now nothing holds them
    audit = await Auditor(fake_redis, queue_name=queue_name).requests(batch.id, repair=1)
    assert (audit.parked, audit.stranded, audit.requeued) == (0, 4, 4)


async def test_a_request_requeued_too_often_ends_as_worker_error(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(2, cid="r"))
    await lose_every_job(fake_redis, queue_name)
    await fake_redis.hset(batch.keys.rescued, "r0", MAX_RESCUES)
    auditor = Auditor(fake_redis, queue_name=queue_name, chunk_size=4)
    assert (await auditor.requests(batch.id, repair=1)).requeued == 2
    await finish(fake_redis, queue_name)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.request_counts.completed == 1
    assert info.errors_by_code == {"worker_error": 1}
    lines = {line.custom_id: line async for line in batch.results()}
    assert lines["r0"].error is not None and lines["r0"].error.code == "worker_error"


async def test_counters_of_an_ended_batch_are_checked_against_results(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(3, cid="r"))
    await finish(fake_redis, queue_name)
    auditor = Auditor(fake_redis, queue_name=queue_name)
    assert (await auditor.counters(batch.id)).drift == {}
    meta = batch.keys.meta
    await fake_redis.hset(meta, mapping={"completed": 2, "usage:total_tokens": 7})
    await fake_redis.hset(meta, "err:server_error", 1)
    drift = (await auditor.counters(batch.id)).drift
    assert drift == {
        "completed": (2, 3),
        "usage:total_tokens": (7, 36),
        "err:server_error": (1, 0),
    }
    await fake_redis.zadd(ACTIVE_KEY, {batch.id: 0})
    rec = reconciler(fake_redis, queue_name)
    await rec.tick()
    assert (await auditor.counters(batch.id)).drift == {}
    info = await batch.status()
    assert info.request_counts.completed == 3 and info.usage.total_tokens == 36
    assert info.errors_by_code == {}
    assert await fake_redis.zscore(ACTIVE_KEY, batch.id) is None  # ended: off the schedule


@pytest.mark.parametrize("status", ["completed", "cancelled"])
async def test_ended_batches_leave_the_schedule(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str, status: str
) -> None:
    batch = await fake_client.submit(items(1, cid="r"))
    await fake_redis.hset(batch.keys.meta, "status", status)
    await fake_redis.zadd(ACTIVE_KEY, {batch.id: 0, "batch_gone": 0})
    await reconciler(fake_redis, queue_name).tick()
    assert await fake_redis.zcard(ACTIVE_KEY) == 0


async def test_a_claim_puts_the_batch_on_the_schedule(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(2, cid="r"))
    await finish(fake_redis, queue_name)
    due = await fake_redis.zscore(ACTIVE_KEY, batch.id)
    assert due is not None and due > time.time() * 1000 - 60_000

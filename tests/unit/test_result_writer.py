"""Group commit of results (worker/results.py, record_many.lua) on fakeredis: one script
call for the results that finish together, with exactly the counters and batch end that
recording them one by one gives; a write Redis refuses is kept while its job run holds
the lease."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError

from respq import BatchClient, BatchStatus
from respq.contract.constants import BatchKeys
from respq.contract.errors import LeaseLost
from respq.contract.lines import answer_line, error_line
from respq.contract.response import Usage
from respq.worker.job_lease import InFlightBounds, JobLease, lease_scripts
from respq.worker.results import Result, ResultWriter
from respq.worker.store import WorkerStore

from helpers.factories import response_body
from helpers.polling import wait_until_async

COUNTERS = ("completed", "failed", "incomplete", "err:", "usage:", "model:")


# What WorkerStore.record takes of a Result besides its custom_id and line.


def outcomes(n: int) -> list[Result]:
    """A mix: successes with usage on two models, an incomplete one, failures by code."""
    results = []
    for i in range(n):
        cid = f"c{i}"
        model = "gpt-5.4" if i % 2 else "gpt-5.4-mini"
        if i % 5 == 4:
            code = "model_not_found" if i % 10 == 4 else "server_error"
            line = error_line(cid, code, "no")
            results.append(Result(cid, line, model=model))
        else:
            usage = Usage(
                input_tokens=5 + i,
                output_tokens=7,
                total_tokens=12 + i,
                cached_tokens=i % 3,
                reasoning_tokens=i % 2,
            )
            line = answer_line(cid, 200, f"req_{i}", response_body())
            results.append(
                Result(
                    cid,
                    line,
                    model=model,
                    usage=usage,
                    response_id=f"resp_{i}",
                    incomplete=i == 3,
                )
            )
    return results


async def submit(client: BatchClient, n: int) -> str:
    items = [{"custom_id": f"c{i}", "body": {"model": "gpt-5.4", "input": "x"}} for i in range(n)]
    return (await client.submit(items)).id


async def counters(redis: FakeRedis, batch_id: str) -> dict[str, int]:
    meta = await redis.hgetall(BatchKeys(batch_id).meta)
    return {
        k.decode(): int(v) for k, v in meta.items() if k.decode().startswith(COUNTERS) and v != b"0"
    }


@pytest.fixture
def store(fake_redis: FakeRedis, queue_name: str) -> WorkerStore:
    return WorkerStore(fake_redis, queue_name=queue_name, result_ttl=3600)


async def test_a_group_counts_exactly_what_one_by_one_recording_counts(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore
) -> None:
    n = 40
    one_by_one, grouped = await submit(fake_client, n), await submit(fake_client, n)
    results = outcomes(n)
    alone = ResultWriter(store)
    for r in results:  # each awaited before the next: groups of one
        await alone.record(one_by_one, r)
    assert alone.writes == n
    writer = ResultWriter(store)
    stored = await asyncio.gather(*(writer.record(grouped, r) for r in results))
    assert stored == [1] * n
    assert writer.writes == 1  # all finished together: one script call
    expected = await counters(fake_redis, one_by_one)
    assert expected["completed"] == 32 and expected["incomplete"] == 1
    assert await counters(fake_redis, grouped) == expected
    for batch_id in (one_by_one, grouped):
        info = await (await fake_client.get(batch_id)).status()
        assert info.status is BatchStatus.COMPLETED
    res = await fake_redis.hgetall(BatchKeys(grouped).res)
    assert res == await fake_redis.hgetall(BatchKeys(one_by_one).res)


async def test_each_request_is_recorded_once_within_and_across_groups(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore
) -> None:
    batch_id = await submit(fake_client, 4)
    writer = ResultWriter(store)
    first = outcomes(4)
    again = await asyncio.gather(*(writer.record(batch_id, r) for r in [*first[:2], *first[:2]]))
    assert again == [1, 1, 0, 0]
    before = await counters(fake_redis, batch_id)
    assert await writer.record(batch_id, first[0]) == 0
    assert await counters(fake_redis, batch_id) == before
    assert before["completed"] == 2


async def test_a_succeeded_body_is_emptied_and_a_failed_one_kept_for_retry(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore
) -> None:
    batch_id = await submit(fake_client, 5)
    req = BatchKeys(batch_id).req
    bodies = await fake_redis.hgetall(req)
    await asyncio.gather(*(ResultWriter(store).record(batch_id, r) for r in outcomes(5)))
    after = await fake_redis.hgetall(req)
    assert set(after) == set(bodies)  # every custom_id stays taken for a resubmit
    assert after[b"c0"] == b""  # succeeded
    assert after[b"c4"] == bodies[b"c4"]  # failed: respq retry sends it again


async def test_groups_are_bounded_and_whatever_waits_goes_next(
    fake_client: BatchClient, store: WorkerStore
) -> None:
    batch_id = await submit(fake_client, 20)
    writer = ResultWriter(store, max_group=8)
    stored = await asyncio.gather(*(writer.record(batch_id, r) for r in outcomes(20)))
    assert stored == [1] * 20
    assert writer.writes == 3


async def test_a_failed_write_fails_its_whole_group_and_the_next_one_still_writes(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore
) -> None:
    batch_id = await submit(fake_client, 6)
    writer = ResultWriter(store)
    real_write = writer.write
    calls = 0

    async def flaky(batch: str, results: list[Result]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.01)  # the next results queue up behind this write
            raise RedisConnectionError("Redis went away")
        return await real_write(batch, results)

    writer.write = flaky  # type: ignore[method-assign]
    results = outcomes(6)
    first = asyncio.ensure_future(writer.record(batch_id, results[0]))
    await asyncio.sleep(0)
    rest: list[Any] = await asyncio.gather(
        *(writer.record(batch_id, r) for r in results[1:]), return_exceptions=True
    )
    with pytest.raises(RedisConnectionError):
        await first
    assert rest == [1] * 5
    assert (await counters(fake_redis, batch_id))["completed"] == 4
    assert not await fake_redis.hexists(BatchKeys(batch_id).res, "c0")


async def test_a_refused_write_back_is_kept_while_its_lease_holds_and_dropped_once_lost(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore
) -> None:
    batch_id = await submit(fake_client, 2)
    writer = ResultWriter(store)

    async def at_maxmemory(batch: str, results: list[Result]) -> list[int]:
        writer.writes += 1
        raise OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")

    writer.write = at_maxmemory  # type: ignore[method-assign]
    bounds = InFlightBounds(lease_s=30, request_s=60, job_s=60)
    lease = JobLease(lease_scripts(fake_redis), batch_id, f"{batch_id}:job", bounds)
    first, second = outcomes(2)
    kept = asyncio.ensure_future(writer.record(batch_id, first, lease))
    with pytest.raises(OutOfMemoryError):  # no lease to keep it for: the job is retried
        await writer.record(batch_id, second)

    async def tried_again() -> bool:
        return writer.writes >= 4

    await wait_until_async(tried_again, 5, "the refused write tried again")
    assert not kept.done()
    lease.lost = True  # another worker took the job over: it records the request
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(kept, 5)

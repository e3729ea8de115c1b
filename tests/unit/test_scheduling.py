"""Fair scheduling on fakeredis: batches take turns at dispatch by weight, urgent goes
first, a capped batch never has more requests out than its cap, paused and cancelled
batches leave the schedule; and a worker's request slots go round the batches."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.constants import ARQ_JOB_PREFIX, BatchKeys, schedule_keys
from respq.contract.errors import InvalidOption
from respq.producer.scheduling import Scheduling, parse_priority
from respq.worker.dispatch import Dispatcher
from respq.worker.slots import FairSlots

from helpers.factories import items


async def picks(redis: FakeRedis, queue: str, count: int) -> list[str]:
    """Dispatch one job at a time, as a worker with one free slot would, and take it off
    the queue; returns the batch id of each job in dispatch order."""
    dispatcher = Dispatcher(redis, queue)
    order: list[str] = []
    for _ in range(count):
        if not await dispatcher.refill(1):
            break
        (job_id,) = await redis.zrange(queue, 0, -1)
        await redis.zrem(queue, job_id)
        order.append(job_id.decode().split(":")[0])
    return order


async def test_batches_take_turns_whatever_was_submitted_first(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    big = await fake_client.submit(items(400, text="a"))  # 100 jobs of 4
    small = await fake_client.submit(items(8, text="b"))  # 2 jobs, submitted behind them
    order = await picks(fake_redis, queue_name, 6)
    # Both start at the schedule's lowest virtual time, then alternate.
    assert set(order[:2]) == set(order[2:4]) == {big.id, small.id}
    assert order[4:] == [big.id, big.id]  # the small batch is done: the big one runs alone


async def test_priority_is_a_weight_and_urgent_goes_first(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    low = await fake_client.submit(items(200, text="l"))
    high = await fake_client.submit(items(200, text="h"), priority=1)  # twice the share
    order = await picks(fake_redis, queue_name, 30)
    counts = Counter(order)
    assert counts[high.id] == 2 * counts[low.id]
    urgent = await fake_client.submit(items(12, text="u"), priority="urgent")
    assert await picks(fake_redis, queue_name, 3) == [urgent.id] * 3
    shares = await fake_client.shares()
    assert shares == {low.id: "33%", high.id: "67%"}


async def test_a_capped_batch_never_has_more_out_than_its_cap(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    capped = await fake_client.submit(items(40, text="c"), max_in_flight=8)  # jobs of 4
    free = await fake_client.submit(items(40, text="f"))
    dispatcher = Dispatcher(fake_redis, queue_name)
    await dispatcher.refill(100)
    queued = [j.decode() for j in await fake_redis.zrange(queue_name, 0, -1)]
    per_batch = Counter(job.split(":")[0] for job in queued)
    assert per_batch == {capped.id: 2, free.id: 10}  # 8 requests out, the rest waits
    # Claimed requests still count; finished jobs (records gone) no longer do.
    keys = BatchKeys(capped.id)
    mine = [job for job in queued if job.startswith(capped.id)]
    await fake_redis.hset(keys.inflight, mapping={"line-1": mine[0], "line-2": mine[0]})
    await fake_redis.delete(*(ARQ_JOB_PREFIX + job for job in mine))
    await fake_redis.zrem(queue_name, *queued)
    await dispatcher.refill(100)
    again = Counter(j.decode().split(":")[0] for j in await fake_redis.zrange(queue_name, 0, -1))
    assert again[capped.id] == 1  # 2 in flight + one job of 4 <= 8


async def test_paused_and_cancelled_batches_leave_the_schedule_and_resume_returns(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    paused = await fake_client.submit(items(40, text="p"))
    cancelled = await fake_client.submit(items(40, text="c"))
    normal, _ = schedule_keys(queue_name)
    await fake_redis.hset(BatchKeys(paused.id).meta, "status", "paused")
    await cancelled.cancel()
    assert await picks(fake_redis, queue_name, 5) == []
    assert await fake_redis.zcard(normal) == 0
    await paused.resume()
    assert (await paused.status()).status is BatchStatus.IN_PROGRESS
    assert await picks(fake_redis, queue_name, 2) == [paused.id, paused.id]


def test_bad_scheduling_options_are_refused() -> None:
    assert Scheduling.of(2).weight == 4.0 and Scheduling.of(-1).weight == 0.5
    assert parse_priority("URGENT") == "urgent" and parse_priority(" 3 ") == 3
    for bad in (11, -11, 1.5, "high", True):
        with pytest.raises(InvalidOption, match="priority"):
            Scheduling.of(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidOption, match="max_in_flight"):
        Scheduling.of(0, max_in_flight=0)
    with pytest.raises(InvalidOption):
        parse_priority("soon")


async def test_request_slots_go_round_the_batches() -> None:
    slots = FairSlots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def request(batch: str, n: int) -> None:
        async with slots.hold(batch):
            order.append(f"{batch}{n}")
            await release.wait()

    first = asyncio.create_task(request("A", 0))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(request("A", n)) for n in range(1, 4)]
    waiters.append(asyncio.create_task(request("B", 1)))
    await asyncio.sleep(0)
    assert slots.waiting == 4
    release.set()
    await asyncio.gather(first, *waiters)
    # B's request, claimed last, runs second: the slot goes to the next batch in turn.
    assert order == ["A0", "A1", "B1", "A2", "A3"]


async def test_a_cancelled_waiter_gives_up_its_turn() -> None:
    slots = FairSlots(1)
    gate = asyncio.Event()

    async def hold(batch: str) -> None:
        async with slots.hold(batch):
            await gate.wait()

    holder = asyncio.create_task(hold("A"))
    await asyncio.sleep(0)
    leaving = asyncio.create_task(hold("B"))
    staying = asyncio.create_task(hold("C"))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    gate.set()
    await asyncio.wait_for(asyncio.gather(holder, staying), 2)
    assert slots.free == 1 and slots.waiting == 0

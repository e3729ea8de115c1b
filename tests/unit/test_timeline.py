"""A batch's timeline (contract/timeline.py), written by the worker's write-back script
(record_many.lua with timeline_lib.lua) on fakeredis: counted exactly once, in the bucket of
its time, in a fixed number of buckets however long the batch runs, and in the same script
call as the results."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient
from respq.contract.constants import BatchKeys
from respq.contract.lines import answer_line, error_line
from respq.contract.response import Usage
from respq.contract.timeline import (
    BUCKETS,
    LATENCY_BINS,
    Timeline,
    bin_bounds,
    latency_bin,
    latency_codes,
    quantile,
)
from respq.worker import results as results_module
from respq.worker.results import Result, ResultWriter
from respq.worker.store import WorkerStore

from helpers.factories import response_body

T0 = 1_700_000_000.0


class Clock:
    """Stands in for the results module's ``time`` (only ``time.time`` is read there)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr(results_module, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def store(fake_redis: FakeRedis, queue_name: str) -> WorkerStore:
    return WorkerStore(fake_redis, queue_name=queue_name, result_ttl=3600)


def success(cid: str, latency: float | None = 0.2, tokens: tuple[int, int] = (10, 5)) -> Result:
    usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1], total_tokens=sum(tokens))
    line = answer_line(cid, 200, "req_1", response_body())
    return Result(cid, line, model="gpt-5.4", usage=usage, latency=latency)


def failure(cid: str, code: str, latency: float | None = 1.0) -> Result:
    return Result(cid, error_line(cid, code, "no"), latency=latency)


async def submit(client: BatchClient, n: int) -> str:
    items = [{"custom_id": f"c{i}", "body": {"model": "gpt-5.4", "input": "x"}} for i in range(n)]
    return (await client.submit(items)).id


async def timeline_of(redis: FakeRedis, batch_id: str) -> Timeline:
    return Timeline.parse(await redis.hgetall(BatchKeys(batch_id).timeline))


async def test_a_write_counts_its_results_in_the_bucket_of_its_time(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore, clock: Clock
) -> None:
    batch_id = await submit(fake_client, 6)
    writer = ResultWriter(store)
    await writer.write(batch_id, [success("c0"), success("c1"), failure("c2", "server_error")])
    clock.now = T0 + 3.5
    await writer.write(batch_id, [success("c3", latency=None), failure("c4", "model_not_found")])
    assert writer.writes == 2  # the timeline rode along: no call of its own

    timeline = await timeline_of(fake_redis, batch_id)
    assert timeline.started_at == T0 and timeline.bucket_seconds == 1
    assert [b.start - T0 for b in timeline.buckets] == [0, 1, 2, 3]
    first, _, _, fourth = timeline.buckets
    assert (first.succeeded, first.failed, first.errors) == (2, 1, {"server_error": 1})
    assert (first.input_tokens, first.output_tokens) == (20, 10)
    assert sum(first.latency.values()) == 3
    assert (fourth.succeeded, fourth.failed, fourth.errors) == (1, 1, {"model_not_found": 1})
    assert sum(fourth.latency.values()) == 1  # c3 had no upstream time
    assert timeline.buckets[1].finished == 0  # an idle second is an empty bucket

    info = await (await fake_client.get(batch_id)).status()
    totals = timeline.totals()
    assert totals.succeeded == info.request_counts.completed == 3
    assert totals.failed == info.request_counts.failed == 2
    assert totals.errors == info.errors_by_code
    assert (totals.input_tokens, totals.output_tokens) == (
        info.usage.input_tokens,
        info.usage.output_tokens,
    )


async def test_a_result_recorded_again_is_not_counted_again(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore, clock: Clock
) -> None:
    batch_id = await submit(fake_client, 3)
    writer = ResultWriter(store)
    await writer.write(batch_id, [success("c0"), failure("c1", "server_error")])
    before = await fake_redis.hgetall(BatchKeys(batch_id).timeline)
    clock.now = T0 + 2
    assert await writer.write(batch_id, [success("c0"), failure("c1", "server_error")]) == [0, 0]
    assert await fake_redis.hgetall(BatchKeys(batch_id).timeline) == before
    assert await writer.write(batch_id, [success("c1"), success("c2")]) == [0, 1]
    timeline = await timeline_of(fake_redis, batch_id)
    assert timeline.totals().succeeded == 2 and timeline.totals().failed == 1


async def test_the_bucket_count_stays_fixed_however_long_the_batch_runs(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore, clock: Clock
) -> None:
    n = 400
    batch_id = await submit(fake_client, n)
    writer = ResultWriter(store)
    # one result every 0.9 s for six minutes, then one a day later
    for i in range(n - 1):
        clock.now = T0 + i * 0.9
        await writer.write(batch_id, [success(f"c{i}", tokens=(i, 1))])
        timeline = await timeline_of(fake_redis, batch_id)
        assert len(timeline.buckets) <= BUCKETS
    assert timeline.bucket_seconds == 4  # 359 s: widened twice (2 s, then 4 s)
    assert len(timeline.buckets) == 90
    clock.now = T0 + 86_400
    await writer.write(batch_id, [success(f"c{n - 1}", tokens=(n - 1, 1))])
    timeline = await timeline_of(fake_redis, batch_id)
    assert timeline.bucket_seconds == 1024 and len(timeline.buckets) == 85
    totals = timeline.totals()
    assert totals.succeeded == n and totals.output_tokens == n
    assert totals.input_tokens == sum(range(n))
    # merged, never reshuffled: the first six minutes now lie in the first bucket
    assert timeline.buckets[0].succeeded == n - 1 and timeline.buckets[-1].succeeded == 1
    assert len(await fake_redis.hkeys(BatchKeys(batch_id).timeline)) == 2 + 2


async def test_latency_percentiles_come_from_the_bins_within_a_bin_width(
    fake_client: BatchClient, fake_redis: FakeRedis, store: WorkerStore, clock: Clock
) -> None:
    rng = random.Random(3)
    latencies = [rng.lognormvariate(math.log(0.4), 0.8) for _ in range(500)]
    batch_id = await submit(fake_client, len(latencies))
    writer = ResultWriter(store)
    for first in range(0, len(latencies), 100):
        chunk = range(first, first + 100)
        await writer.write(batch_id, [success(f"c{i}", latency=latencies[i]) for i in chunk])
    (bucket,) = (await timeline_of(fake_redis, batch_id)).buckets
    ordered = sorted(latencies)
    for q, got in ((0.5, bucket.p50()), (0.95, bucket.p95())):
        true = ordered[math.ceil(q * len(ordered)) - 1]
        assert got is not None and abs(got / true - 1) < 0.1, (q, got, true)


def test_latency_bins_are_log_spaced_and_cover_every_value() -> None:
    assert latency_bin(0.0) == 0 and latency_bin(float("nan")) == 0
    assert latency_bin(1e9) == LATENCY_BINS - 1
    for seconds in (0.0011, 0.02, 0.5, 3.0, 70.0, 900.0):
        low, high = bin_bounds(latency_bin(seconds))
        assert low <= seconds < high and high / low == pytest.approx(2**0.25)
    assert latency_codes([None, 0.0005, 1.0]) == bytes([0, 1, latency_bin(1.0) + 1])
    assert quantile({}, 0.5) is None


def test_a_running_batch_shows_a_stall_as_empty_buckets_up_to_now() -> None:
    raw = {b"t0": b"1700000000000", b"w": b"2000", b"b0": b'{"s":3}'}
    timeline = Timeline.parse(raw, until=T0 + 9)
    assert [b.finished for b in timeline.buckets] == [3, 0, 0, 0, 0]
    assert Timeline.parse({}).buckets == []
    merged = Timeline.parse(raw, until=T0 + 9).resampled(2)
    assert [b.finished for b in merged.buckets] == [3, 0] and merged.bucket_seconds == 6

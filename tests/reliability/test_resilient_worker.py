"""The worker class production runs (worker/dispatch.py over worker/resilient.py) and the
job function's bounds, on fakeredis: Redis faults in arq's poll loop are ridden out, one
job never runs twice at once in a worker, a job's runs are bounded, a paused batch parks
its jobs until resume, and the server checks at start-up."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis
from redis.exceptions import BusyLoadingError, ReadOnlyError, WatchError
from redis.exceptions import ConnectionError as RedisConnectionError

from respq import BatchClient, BatchStatus
from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, ARQ_JOB_PREFIX, paused_key
from respq.contract.errors import UnsupportedRedis
from respq.worker.resilient import check_server
from respq.worker.store import WorkerStore

from helpers.factories import items, response_body
from helpers.polling import wait_until_async
from helpers.ports import free_port
from helpers.upstream import Upstream, config
from helpers.workers import build_worker, dispatch_all, run_burst


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("respq.worker.resilient.OUTAGE_BACKOFF_BASE_S", 0.01)


async def test_redis_faults_in_the_poll_loop_are_ridden_out(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = await fake_client.submit(items(6, cid="r"))
    faults: list[Exception] = [
        BusyLoadingError("Redis is loading the dataset in memory"),
        RedisConnectionError("Connection reset by peer"),
        WatchError("A ConnectionError occurred on while watching one or more keys"),
        ReadOnlyError("You can't write against a read only replica."),
        ConnectionRefusedError(111, "Connection refused"),
    ]
    real = fake_redis.zrangebyscore

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if faults:
            raise faults.pop(0)
        return await real(*args, **kwargs)

    fake_redis.zrangebyscore = flaky  # type: ignore[method-assign]
    worker = build_worker(
        config(queue_name, poll_delay=0.01), redis_pool=fake_redis, transport=Upstream().transport()
    )
    with caplog.at_level(logging.WARNING, logger="respq.worker"):
        await run_burst(worker, timeout=30)
    assert not faults
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED and info.request_counts.completed == 6
    health = worker.redis_health
    assert health.outages == 1 and health.down_since is None
    assert "BusyLoadingError" not in health.last_error  # the last fault is remembered
    down = [r for r in caplog.records if r.getMessage().startswith("redis unavailable")]
    assert len(down) == 1  # one line per outage, not per failed poll


async def test_a_job_running_here_is_not_started_again(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    await fake_client.submit(items(1, cid="r"))
    release = asyncio.Event()
    sent: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        sent.append(orjson.loads(request.content)["input"])
        await release.wait()
        return httpx.Response(200, json=response_body())

    worker = build_worker(
        config(queue_name, poll_delay=0.01),
        redis_pool=fake_redis,
        transport=httpx.MockTransport(slow),
    )
    task = asyncio.create_task(run_burst(worker, timeout=30))
    await wait_until_async(lambda: asyncio.sleep(0, result=bool(sent)), timeout=10)
    (job_id,) = [raw.decode() for raw in await fake_redis.zrange(queue_name, 0, -1)]
    # A restart that lost the job's in-progress key: arq would now start it again here.
    await fake_redis.delete(ARQ_IN_PROGRESS_PREFIX + job_id)
    await worker.start_jobs([job_id.encode()])
    await asyncio.sleep(0.2)
    assert sent == ["q0"] and len(worker.tasks) == 1
    release.set()
    await asyncio.wait_for(task, 30)
    assert worker.jobs_failed == 0


async def test_a_job_past_its_run_limit_records_worker_error(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(items(2, cid="r"))
    (job_id,) = await dispatch_all(fake_redis, queue_name)
    record = orjson.loads(await fake_redis.get(ARQ_JOB_PREFIX + job_id))
    record["t"] = 21  # arq takes the record's try number when it is higher
    await fake_redis.set(ARQ_JOB_PREFIX + job_id, orjson.dumps(record))
    upstream = Upstream()
    worker = build_worker(
        config(queue_name, poll_delay=0.01), redis_pool=fake_redis, transport=upstream.transport()
    )
    await run_burst(worker)
    info = await batch.status()
    assert upstream.calls == []
    assert info.status is BatchStatus.COMPLETED
    assert info.errors_by_code == {"worker_error": 2}


async def test_a_job_that_keeps_running_out_of_time_ends_as_worker_error(
    fake_client: BatchClient,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("respq.worker.tasks.DEADLINE_MARGIN_S", 9.8)  # job_timeout 10: 0.2 s
    monkeypatch.setattr("respq.worker.tasks.TIMED_OUT_RETRY_S", 0.01)
    monkeypatch.setattr("respq.worker.tasks.MAX_JOB_RUNS", 3)
    batch = await fake_client.submit(items(1, cid="r"))
    calls: list[int] = []

    async def hang(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        await asyncio.sleep(30)
        return httpx.Response(200, json=response_body())

    worker = build_worker(
        config(queue_name, poll_delay=0.01, job_timeout=10),
        redis_pool=fake_client.redis,
        transport=httpx.MockTransport(hang),
    )
    await run_burst(worker, timeout=30)
    info = await batch.status()
    assert len(calls) == 3  # three runs, each cut at its deadline, then the bound
    assert info.status is BatchStatus.COMPLETED
    assert info.errors_by_code == {"worker_error": 1}


async def test_a_paused_batch_parks_its_jobs_until_resume(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = await fake_client.submit(items(8, cid="r"))  # chunk size 4: two jobs
    # Both jobs were dispatched when the batch paused (waiting ones are never dispatched).
    assert len(await dispatch_all(fake_redis, queue_name)) == 2
    await fake_redis.hset(batch.keys.meta, mapping={"status": "paused", "pause_reason": "t"})
    claims: list[str] = []
    real_claim = WorkerStore.claim

    async def counting(self: WorkerStore, batch_id: str, job_id: str, *a: Any, **k: Any) -> Any:
        claims.append(job_id)
        return await real_claim(self, batch_id, job_id, *a, **k)

    monkeypatch.setattr(WorkerStore, "claim", counting)
    upstream = Upstream()
    worker = build_worker(
        config(queue_name, poll_delay=0.01), redis_pool=fake_redis, transport=upstream.transport()
    )
    task = asyncio.create_task(run_burst(worker, timeout=30))

    async def parked() -> bool:
        return await fake_redis.hlen(batch.keys.parked) == 2

    await wait_until_async(parked, timeout=10)
    await wait_until_async(lambda: asyncio.sleep(0, result=not worker.tasks), timeout=10)
    assert await fake_redis.zcard(queue_name) == 0
    assert await fake_redis.sismember(paused_key(queue_name), batch.id)
    await asyncio.sleep(0.5)  # parked: nobody picks them again
    assert len(claims) == 2 and upstream.calls == [] and not task.done()

    await batch.resume()
    await asyncio.wait_for(task, 30)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED and info.request_counts.completed == 8
    assert sorted(body["input"] for _, body in upstream.calls) == sorted(f"q{i}" for i in range(8))
    assert await fake_redis.hlen(batch.keys.parked) == 0
    assert not await fake_redis.sismember(paused_key(queue_name), batch.id)


class FakeInfo:
    def __init__(self, version: str, policy: str) -> None:
        self.sections = {
            "server": {"redis_version": version},
            "memory": {"maxmemory_policy": policy},
        }

    async def info(self, section: str) -> dict[str, str]:
        return self.sections[section]


async def test_start_up_refuses_redis_6_and_warns_about_eviction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(UnsupportedRedis, match=r"needs Redis >= 7\.0 .* runs 6\.2\.14"):
        await check_server(FakeInfo("6.2.14", "noeviction"), "127.0.0.1:6379/0")
    with caplog.at_level(logging.WARNING, logger="respq.worker"):
        await check_server(FakeInfo("7.0.15", "noeviction"), "x")
        assert not caplog.records
        await check_server(FakeInfo("7.2.4", "allkeys-lru"), "x")
    assert "maxmemory-policy is allkeys-lru" in caplog.text


def test_health_check_names_an_unreachable_redis() -> None:
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-m", "respq.worker", "--check"],
        env={"RESPQ_REDIS_URL": f"redis://:pw@127.0.0.1:{port}/0", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert f"Redis unreachable at 127.0.0.1:{port}/0" in out.stderr
    assert "Traceback" not in out.stderr and "pw" not in out.stderr


async def test_closing_a_worker_right_after_it_picked_a_job_completes(
    fake_redis: FakeRedis, queue_name: str
) -> None:
    # The race behind a flaky test: a poll has just created a job's task, which has not
    # run yet, when close() comes (a worker that does not handle signals: embedded in a
    # program, or in a test). arq's close() cancels it and gathers it without
    # return_exceptions, so the CancelledError escaped close() and the pool stayed open.
    worker = build_worker(config(queue_name, poll_delay=0.01), redis_pool=fake_redis, burst=False)
    picked = asyncio.create_task(asyncio.sleep(30))
    worker.tasks["just-picked"] = picked
    await asyncio.wait_for(worker.close(), 10)
    assert picked.cancelled()
    assert worker._pool is None  # closed all the way

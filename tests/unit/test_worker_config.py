"""A worker's requests in flight are RESPQ_WORKER_IN_FLIGHT: its old name RESPQ_MAX_JOBS
is still read while the new one is not set, and a worker started with it says, in one
warning line, to rename it."""

from __future__ import annotations

import logging

import httpx
import pytest
from fakeredis.aioredis import FakeRedis

from respq.worker import WorkerConfig

from helpers.workers import build_worker, run_burst

DEPRECATED = (
    "RESPQ_MAX_JOBS is deprecated: rename it RESPQ_WORKER_IN_FLIGHT (while that is set, "
    "RESPQ_MAX_JOBS is ignored)"
)


@pytest.mark.parametrize(
    ("env", "in_flight"),
    [
        ({}, 256),
        ({"RESPQ_WORKER_IN_FLIGHT": "40"}, 40),
        ({"RESPQ_MAX_JOBS": "7"}, 7),
        ({"RESPQ_MAX_JOBS": "7", "RESPQ_WORKER_IN_FLIGHT": "40"}, 40),
    ],
)
def test_requests_in_flight_per_worker_come_from_the_new_name_or_else_the_old(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], in_flight: int
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = WorkerConfig()
    assert config.worker_in_flight == in_flight
    # arq's job slots: twice what fills the requests in flight, chunk_size (16) a job
    assert config.arq_max_jobs == max(8, -(-2 * in_flight // 16))
    assert config.old_names() == ([DEPRECATED] if "RESPQ_MAX_JOBS" in env else [])


@pytest.mark.parametrize("old_name", [True, False])
async def test_a_worker_started_with_the_old_name_logs_one_line_saying_so(
    fake_redis: FakeRedis,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    old_name: bool,
) -> None:
    if old_name:
        monkeypatch.setenv("RESPQ_MAX_JOBS", "3")
    config = WorkerConfig(base_url="http://upstream.test/v1", queue_name=queue_name)
    transport = httpx.MockTransport(lambda _: httpx.Response(500))
    worker = build_worker(config, redis_pool=fake_redis, transport=transport)
    with caplog.at_level(logging.WARNING, logger="respq.worker"):
        await run_burst(worker, timeout=20)
    said = [r.getMessage() for r in caplog.records if "RESPQ_MAX_JOBS" in r.getMessage()]
    assert said == ([DEPRECATED] if old_name else [])
    assert worker.ctx["respq_runner"].slots.free == (3 if old_name else 256)

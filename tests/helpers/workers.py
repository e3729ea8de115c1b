"""In-process arq workers, built the way production builds them (``DispatchingWorker`` with
``worker_options``), inside the running loop and without signal handlers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from respq.mockapi import MockServer
from respq.worker import WorkerConfig, redis_settings, worker_options
from respq.worker.dispatch import Dispatcher, DispatchingWorker

from helpers.databases import Database


def worker_config(upstream: MockServer, queue_name: str, **settings: Any) -> WorkerConfig:
    """Settings of a worker calling ``upstream`` (mockapi) on ``queue_name``: quick retries
    unless ``settings`` say otherwise."""
    values: dict[str, Any] = {"retry_base": 0.01, "retry_cap": 0.05, **settings}
    return WorkerConfig(base_url=upstream.base_url, queue_name=queue_name, **values)


def build_worker(
    config: WorkerConfig,
    *,
    redis_pool: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
    db: Database | None = None,
    burst: bool = True,
) -> DispatchingWorker:
    """A worker on ``redis_pool`` (fakeredis), on the shared Redis' ``db``, or else on
    ``config.redis_url``; ``transport`` stands in for the upstream (``httpx.MockTransport``)."""
    options = worker_options(config)
    options["ctx"] = {"respq_config": config, "respq_transport": transport}
    if db is not None:
        options["redis_settings"] = redis_settings(db.url)
    if redis_pool is not None:
        options.pop("redis_settings")
        options["redis_pool"] = redis_pool
    return DispatchingWorker(**options, burst=burst, handle_signals=False)


async def cancel_tasks(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks`` and wait until they have ended; what they raise on the way out is
    the teardown, not a failure."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_burst(worker: DispatchingWorker, timeout: float = 60) -> None:
    """Run a burst worker until the queue is empty, then close it."""
    try:
        await asyncio.wait_for(worker.main(), timeout)
    finally:
        await worker.close()


def burst_worker(db: Database, queue: str, base_url: str, **config: Any) -> None:
    """From synchronous code (a CLI test, a thread): run a burst worker on ``db`` until its
    queue and its batches' waiting jobs are done."""
    settings = WorkerConfig(
        redis_url=db.url, queue_name=queue, base_url=base_url, log_level="WARNING", **config
    )

    async def go() -> None:
        await run_burst(build_worker(settings))

    asyncio.run(go())


async def dispatch_all(redis: Any, queue_name: str) -> list[str]:
    """Hand every waiting job of the queue's scheduled batches to arq's queue, as workers
    do a few at a time; returns the ids of the jobs then in the queue."""
    await Dispatcher(redis, queue_name).refill(1_000_000)
    return [raw.decode() for raw in await redis.zrange(queue_name, 0, -1)]

"""An arq Worker that rides out Redis faults instead of exiting.

arq 0.28's poll loop lets any Redis error escape ``Worker.main``: a restart
(``BusyLoadingError`` while the dataset loads, which redis-py turns into ``WatchError``
inside arq's watched pipeline), a reset connection, a failover or a read-only replica each
killed the process. ``ResilientWorker`` catches them around each poll, logs one line per
outage, backs off (capped, jittered) and resumes; it also never starts a job that is
already running in this process (after a restart arq could pick the same job twice, and
the second copy's ``del job_tasks[id]`` raised ``KeyError``, losing a ``Retry``).

At start-up it checks the server: Redis >= 7.0 is required (``PEXPIRE … LT``), and a
``maxmemory-policy`` other than ``noeviction`` is warned about (Redis could evict
requests and results).

It knows nothing of respq's batches: the worker production runs is
``worker/dispatch.py``'s ``DispatchingWorker``, this class plus fair dispatch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import signal
import time
from collections.abc import Sequence
from typing import Any

import arq.worker as arq_worker
from arq.connections import RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import poll, timestamp_ms
from arq.worker import Worker
from redis.exceptions import RedisError, ResponseError, WatchError

from respq.contract.errors import UnsupportedRedis

log = logging.getLogger("respq.worker")

MIN_REDIS = (7, 0)
# Backoff between polls while Redis is unavailable.
OUTAGE_BACKOFF_BASE_S = 0.2
OUTAGE_BACKOFF_CAP_S = 5.0
# What counts as "Redis is unavailable" (RedisError covers loading, read-only, resets).
REDIS_FAULTS = (RedisError, OSError, asyncio.TimeoutError)


@dataclasses.dataclass(slots=True)
class RedisHealth:
    """This process's view of Redis: ``down_since`` is set during an outage."""

    down_since: float | None = None
    outages: int = 0
    failures: int = 0
    last_error: str = ""
    last_outage_s: float = 0.0

    def failed(self, exc: BaseException, where: str) -> float:
        """Note a failure (one log line per outage); returns the seconds to back off."""
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:200]
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.warning("redis unavailable (%s in %s): backing off", self.last_error, where)
        delay: float = min(
            OUTAGE_BACKOFF_CAP_S, OUTAGE_BACKOFF_BASE_S * 2.0 ** min(self.failures, 10)
        )
        return delay * random.uniform(0.5, 1.0)

    def ok(self) -> None:
        if self.down_since is not None:
            self.last_outage_s = time.monotonic() - self.down_since
            log.warning("redis back after %.1fs", self.last_outage_s)
        self.down_since = None
        self.failures = 0

    def info(self) -> dict[str, str | int]:
        """Fields for the worker's info hash (``respq workers``)."""
        return {
            "redis": "down" if self.down_since is not None else "ok",
            "redis_outages": self.outages,
            "redis_last_outage_ms": int(self.last_outage_s * 1000),
            "redis_last_error": self.last_error,
        }


async def check_server(redis: Any, where: str) -> None:
    """Refuse a Redis older than 7.0; warn when it may evict respq's keys."""
    try:
        server = await redis.info("server")
        memory = await redis.info("memory")
    except ResponseError:  # INFO disabled (or fakeredis): nothing to check
        return
    version = str(server.get("redis_version", "0"))
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_REDIS:
        raise UnsupportedRedis(
            f"respq needs Redis >= {MIN_REDIS[0]}.{MIN_REDIS[1]} (PEXPIRE … LT in the lease "
            f"sweep); {where} runs {version}"
        )
    policy = str(memory.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        log.warning(
            "redis maxmemory-policy is %s: under memory pressure Redis may evict respq's "
            "requests, results and jobs; set maxmemory-policy noeviction",
            policy,
        )


def describe(settings: RedisSettings | None) -> str:
    """host:port/db of the settings, never the password."""
    if settings is None:
        return "redis"
    if settings.sentinel:
        return f"sentinel {settings.sentinel_master}/{settings.database}"
    return f"{settings.host}:{settings.port}/{settings.database}"


class ResilientWorker(Worker):  # type: ignore[misc]
    """arq's Worker, surviving Redis faults; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis_health = RedisHealth()
        self.ctx["respq_redis_health"] = self.redis_health

    async def close(self) -> None:
        """arq's close, without its race. A worker that does not handle signals (one embedded
        in a program, or in a test) has its running jobs cancelled by close(), which then
        gathers them without return_exceptions: whenever a job was in flight at that moment
        the CancelledError escaped close() and the pool was never closed. The cancelled jobs
        are gathered here first (arq runs them again, as after SIGTERM)."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.close(close_connection_pool=True)
        self._pool = None

    def run(self) -> None:
        try:
            super().run()
        except UnsupportedRedis as exc:
            log.error("%s", exc)
            raise SystemExit(2) from None

    async def _backoff(self, exc: BaseException, where: str) -> None:
        await asyncio.sleep(self.redis_health.failed(exc, where))

    async def main(self) -> None:
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    self.redis_settings,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except REDIS_FAULTS as exc:
                await self._backoff(exc, "connect")
        arq_worker.logger.info(
            "Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions)
        )
        while True:
            try:
                # Looked up on arq's module so tests can silence it (fakeredis lacks INFO).
                await arq_worker.log_redis_info(  # type: ignore[attr-defined]
                    self.pool, arq_worker.logger.info
                )
                await check_server(self.pool, describe(self.redis_settings))
                break
            except REDIS_FAULTS as exc:
                await self._backoff(exc, "start-up")
        self.redis_health.ok()
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        async for _ in poll(self.poll_delay_s):
            try:
                await self._poll_iteration()
                if self.burst and await self._burst_done():
                    return
            except REDIS_FAULTS as exc:
                await self._backoff(exc, "poll")
            else:
                self.redis_health.ok()

    async def _burst_done(self) -> bool:
        """arq's burst exit: once max_burst_jobs have started, or its queue is empty, the
        running jobs are awaited and the worker stops."""
        if 0 <= self.max_burst_jobs <= self._jobs_started() or not await self.pool.zcard(
            self.queue_name
        ):
            await asyncio.gather(*self.tasks.values())
            return True
        return False

    async def start_jobs(self, job_ids: Sequence[bytes]) -> None:
        """arq's start_jobs, except that a job already running here is not started again
        and a Redis error gives its slot back before it is raised."""
        for job_id_b in job_ids:
            job_id = job_id_b.decode()
            running = self.tasks.get(job_id)
            if running is not None and not running.done():
                continue
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            try:
                started = await self._start_job(job_id)
            except BaseException:
                self._release_sem_dec_counter_on_complete()
                raise
            if not started:
                self._release_sem_dec_counter_on_complete()

    async def _start_job(self, job_id: str) -> bool:
        in_progress_key = in_progress_key_prefix + job_id
        async with self.pool.pipeline(transaction=True) as pipe:
            await pipe.watch(in_progress_key)
            ongoing = await pipe.exists(in_progress_key)
            score = await pipe.zscore(self.queue_name, job_id)
            if ongoing or not score or score > timestamp_ms():
                return False  # running elsewhere, finished, or deferred meanwhile
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.psetex(in_progress_key, int(self.in_progress_timeout_s * 1000), b"1")
            try:
                await pipe.execute()
            except WatchError:
                return False  # another worker started it since the check
        task = self.loop.create_task(self.run_job(job_id, int(score)))
        task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
        self.tasks[job_id] = task
        return True

    async def run_job(self, job_id: str, score: int) -> None:
        """arq's run_job; a Redis fault around it (reading the job, finishing it) leaves
        the job queued for a rerun instead of failing the poll loop."""
        try:
            await super().run_job(job_id, score)
        except REDIS_FAULTS as exc:
            self.redis_health.failed(exc, f"job {job_id}")

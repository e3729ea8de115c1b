"""Keep the arq in-progress keys of running jobs alive on a short lease, and advertise
this worker in Redis. A SIGKILLed worker stops renewing, so its jobs become free for
another worker within one lease instead of after job_timeout + 10 s.

Every keeper also cuts the in-progress keys of due jobs in its queue to the lease
(``PEXPIRE … LT``, which only ever shortens): arq sets that key for job_timeout + 10 s the
moment it picks a job, and the job's claim cuts it to the lease a few milliseconds later.
A worker killed between the two left the job stuck for an hour; now any live worker
shortens it on its next tick. A live owner is unaffected: its claim and renewals keep
the key alive.

Renewal (``contract/lua/renew.lua``) also writes the key again when it is gone, so a key Redis lost
(a restart that cut the AOF tail) comes back within a third of a lease and another worker
does not start the same job meanwhile; a key that holds another run's token tells the run
that it lost the job (``worker/job_lease.py``). Leases are renewed before the heartbeat and
apart from it: a Redis at maxmemory refuses the heartbeat's writes but not the renewal, so
a worker holding outcomes it cannot write yet keeps its jobs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from respq.contract.background import Background
from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, WORKER_INFO_PREFIX, WORKERS_KEY
from respq.worker.job_lease import JobLease, lease_scripts

log = logging.getLogger("respq.worker")

# While Redis fails, renewals are tried this often (a lapsed lease is only won back if
# the key is written again before another worker takes the job).
FAILING_RETRY_S = 0.5


class LeaseKeeper(Background):
    def __init__(
        self,
        redis: Redis,
        *,
        lease_seconds: float,
        in_flight: Callable[[], int],
        runs: Mapping[str, JobLease] | None = None,
        worker_id: str | None = None,
        queue_name: str | None = None,
        sweep_limit: int = 2000,
        status: Callable[[], Mapping[str, str | int]] | None = None,
    ) -> None:
        self.redis = redis
        self.lease_ms = int(lease_seconds * 1000)
        self.interval = lease_seconds / 3
        self.in_flight = in_flight
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = int(time.time())
        # the job runs in progress here, by job id (the RequestRunner's)
        self.runs: Mapping[str, JobLease] = runs if runs is not None else {}
        self.scripts = lease_scripts(redis)
        self.queue_name = queue_name
        self.sweep_limit = sweep_limit
        # extra fields for the info hash (the worker's Redis health, the reconciler's work)
        self.status = status or dict
        self._failing = False
        super().__init__(self._run, "respq-lease")

    async def stop(self) -> None:
        await super().stop()
        try:
            await self.redis.zrem(WORKERS_KEY, self.worker_id)
            await self.redis.delete(WORKER_INFO_PREFIX + self.worker_id)
        except RedisError:
            pass

    async def renew(self) -> None:
        await self.renew_leases()
        await self.heartbeat()

    async def renew_leases(self) -> None:
        runs = list(self.runs.values())
        if not runs:
            return
        asked_at = time.monotonic()
        states = await self.scripts["renew"](
            progress=[run.progress_key for run in runs],
            lease_ms=self.lease_ms,
            runs=[part for run in runs for part in (run.token, run.value())],
        )
        for run, state in zip(runs, states, strict=True):
            run.renewed(state.decode() if isinstance(state, bytes) else str(state), asked_at)

    async def heartbeat(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        now = time.time()
        info_key = WORKER_INFO_PREFIX + self.worker_id
        pipe.zadd(WORKERS_KEY, {self.worker_id: now})
        pipe.hset(
            info_key,
            mapping={
                "id": self.worker_id,
                "started_at": self.started_at,
                "seen_at": int(now),
                "in_flight": self.in_flight(),
                "jobs": len(self.runs),
                **self.status(),
            },
        )
        pipe.pexpire(info_key, self.lease_ms * 2)
        await pipe.execute()

    async def sweep(self) -> int:
        """Shorten to the lease the in-progress keys of due jobs that were never claimed
        (their worker died between arq picking the job and respq claiming it)."""
        if not self.queue_name:
            return 0
        due = await self.redis.zrangebyscore(
            self.queue_name, "-inf", int(time.time() * 1000), start=0, num=self.sweep_limit
        )
        if not due:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for raw in due:
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            pipe.pexpire(ARQ_IN_PROGRESS_PREFIX + job_id, self.lease_ms, lt=True)
        return sum(1 for cut in await pipe.execute() if cut)

    async def _run(self) -> None:
        while True:
            try:
                await self.renew()
                await self.sweep()
                self._failing = False
            except RedisError as exc:  # Redis restarting: keep trying, jobs keep running
                if not self._failing:  # one line per outage
                    log.warning("lease renewal failed: %s", exc)
                self._failing = True
            await asyncio.sleep(
                min(self.interval, FAILING_RETRY_S) if self._failing else self.interval
            )

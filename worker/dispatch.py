"""The worker's half of fair scheduling: before each poll of arq's queue, hand it as many
waiting jobs of the scheduled batches as it asks for (its free slots plus one round
ahead), in fair turns (``contract/lua/dispatch.lua``). arq's queue so stays short, so a
batch submitted behind a backlog is picked within about one job's time instead of after
the whole backlog.

``DispatchingWorker`` is the worker respq runs: ``worker/resilient.py``'s Worker (which
rides out Redis faults) with this refill before each poll, and a burst exit that also
waits for the scheduled batches' jobs and for paused batches."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from respq.contract.constants import ARQ_JOB_PREFIX, PREFIX, BatchKeys, paused_key, schedule_keys
from respq.contract.scripts import ScriptSet
from respq.contract.status import TERMINAL_STATUSES
from respq.worker.resilient import ResilientWorker

# Batches looked at per pick when the first ones are at their in-flight cap.
SCAN = 16


class Dispatcher:
    def __init__(self, redis: Redis, queue_name: str) -> None:
        self.schedule, self.urgent_schedule = schedule_keys(queue_name)
        self.queue = queue_name
        self.scripts = ScriptSet(redis, ["dispatch"])

    async def refill(self, free_slots: int) -> int:
        """Make ready jobs in the queue number up to ``free_slots``; returns how many it
        added."""
        if free_slots <= 0:
            return 0
        made = await self.scripts["dispatch"](
            schedule=self.schedule,
            urgent_schedule=self.urgent_schedule,
            queue=self.queue,
            now_ms=int(time.time() * 1000),
            want=free_slots,
            prefix=PREFIX,
            job_prefix=ARQ_JOB_PREFIX,
            scan=SCAN,
        )
        return int(made)


class DispatchingWorker(ResilientWorker):
    """The worker respq runs; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dispatcher: Dispatcher | None = None

    async def _poll_iteration(self) -> None:
        """arq's poll, after making ready as many of the scheduled batches' waiting jobs
        as this worker has free slots, plus one round ahead; a batch submitted now waits
        behind at most that round, about one job's time. While batches have jobs waiting
        it polls again at once (arq's start_jobs waits for a free slot), as arq does when
        its queue holds the whole backlog, instead of sleeping poll_delay with slots free."""
        while True:
            made = 0
            if self.allow_pick_jobs:
                if self.dispatcher is None:
                    self.dispatcher = Dispatcher(self.pool, self.queue_name)
                made = await self.dispatcher.refill(2 * self.max_jobs - self.job_counter)
            await super()._poll_iteration()
            if not made:
                return

    async def _burst_done(self) -> bool:
        """arq's burst exit, except that a burst worker also waits for paused batches
        whose jobs are parked (they come back when resumed), as it waited for their
        deferred jobs before parking existed."""
        if 0 <= self.max_burst_jobs <= self._jobs_started():
            return await super()._burst_done()
        paused = paused_key(self.queue_name)
        pool: Any = self.pool
        # One snapshot: a resume between separate reads would empty the paused set after
        # the queue was read empty, and the worker would leave the resumed jobs behind.
        pipe = pool.pipeline(transaction=True)
        pipe.zcard(self.queue_name)
        pipe.smembers(paused)
        for schedule in schedule_keys(self.queue_name):
            pipe.zcard(schedule)
        queued, parked_batches, *waiting = await pipe.execute()
        if queued or any(waiting):
            return False
        for raw in parked_batches:
            batch_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            status = await pool.hget(BatchKeys(batch_id).meta, "status")
            if status is None or status.decode() in TERMINAL_STATUSES:
                await pool.srem(paused, batch_id)
            else:
                # Paused: wait for its resume. Running: it was resumed after the snapshot
                # above, and its jobs are queued now.
                return False
        if self.tasks and not all(t.done() for t in self.tasks.values()):
            # a running job may still queue more (a rerun, a parked batch's resume)
            await asyncio.gather(*self.tasks.values())
            return False
        return True

"""The worker's half of fair scheduling: before each poll of arq's queue, hand it as many
waiting jobs of the scheduled batches as it asks for (its free slots plus one round
ahead), in fair turns (``contract/lua/dispatch.lua``). arq's queue so stays short, so a
batch submitted behind a backlog is picked within about one job's time instead of after
the whole backlog."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from respq.contract.constants import ARQ_JOB_PREFIX, PREFIX, schedule_keys
from respq.contract.scripts import ScriptSet

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

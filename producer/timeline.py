"""A batch's timeline (``contract/timeline.py``) read for its current state: a running
batch's series reaches to now (a stall shows as empty buckets), an ended batch's rates
end when it ended."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from respq.contract.status import ACTIVE_STATUSES
from respq.contract.timeline import Timeline, read_timeline
from respq.producer.batch_info import BatchInfo


def timeline_end(info: BatchInfo, now: float) -> float | None:
    """Where the batch's timeline ends: now while it runs, else when it ended (None when
    its record says no end time)."""
    if info.status in ACTIVE_STATUSES:
        return now
    ends = (info.completed_at, info.cancelled_at, info.expired_at, info.failed_at)
    return next((float(t) for t in ends if t), None)


async def batch_timeline(
    redis: Redis, info: BatchInfo, now: float | None = None
) -> tuple[Timeline, float | None]:
    """The timeline of the batch ``info`` describes, and where it ends (timeline_end)."""
    now = time.time() if now is None else now
    running = info.status in ACTIVE_STATUSES
    timeline = await read_timeline(redis, info.id, until=now if running else None)
    return timeline, timeline_end(info, now)


__all__ = ["batch_timeline", "timeline_end"]

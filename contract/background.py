"""A task an object runs in the background from ``start()`` until ``stop()`` (the server's
file sweeper, the worker's lease, reconciler and webhook loops): stopping cancels the task and
waits until it has ended, so nothing of it runs after ``stop()`` returns."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError


class Background:
    """One task made from ``run`` at each ``start()``, named ``name`` (for debugging). The
    parts that run a loop subclass it, so ``start`` and ``stop`` are written once."""

    def __init__(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        self._make = run
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._make(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # Its CancelledError is the stop, not a failure.
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def tick_every(
    interval: float, tick: Callable[[], Awaitable[object]], log: logging.Logger, what: str
) -> None:
    """Call ``tick`` every ``interval`` seconds until cancelled, each wait jittered by a fifth
    so that processes started together spread out. A Redis error skips to the next tick (the
    worker's poll loop reports the outage); ``what`` names the loop in the one line logged
    per outage."""
    failing = False
    while True:
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))
        try:
            await tick()
            failing = False
        except RedisError as exc:
            if not failing:
                log.info("%s paused by a Redis error: %s", what, exc)
            failing = True

"""A task an object runs in the background from ``start()`` until ``stop()`` (the server's
file sweeper; the worker's loops have the same shape): stopping cancels the task and waits
until it has ended, so nothing of it runs after ``stop()`` returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class Background:
    """One task made from ``run`` at each ``start()``, named ``name`` (for debugging)."""

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

"""A worker's request slots, shared fairly between batches.

A worker holds more claimed requests than it has slots (jobs are picked ahead so the pipe
stays full), and a plain semaphore serves them first come, first served: a small batch's
requests would wait behind every claimed request of a large one. Here a freed slot goes to
the next batch in turn, so a batch whose job was picked starts within about one request's
time, whatever else the worker holds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairSlots:
    def __init__(self, size: int) -> None:
        self.free = size
        # batch -> its waiters; dict order is the turn order (a served batch goes last)
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    @asynccontextmanager
    async def hold(self, batch_id: str) -> AsyncIterator[None]:
        await self._acquire(batch_id)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, batch_id: str) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(batch_id, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over as we were cancelled
            else:
                queue = self._waiting.get(batch_id)
                if queue is not None and future in queue:
                    queue.remove(future)
                    if not queue:
                        del self._waiting[batch_id]
            raise

    def _release(self) -> None:
        while self._waiting:
            batch_id, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            del self._waiting[batch_id]
            if queue:
                self._waiting[batch_id] = queue  # to the back of the turn order
            if not future.done():
                future.set_result(None)
                return
        self.free += 1

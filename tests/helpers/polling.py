"""The one way a test waits: poll a condition until it holds, failing after a deadline
(a test never sleeps to wait for work). ``wait_until`` for a plain check,
``wait_until_async`` for a coroutine one; ``wait_for_results`` for a batch's progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis import Redis


class Deadline:
    """``timeout`` seconds from now; ``check()`` raises AssertionError naming ``what`` once
    they have passed."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self.at = time.monotonic() + timeout

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise AssertionError(f"{self.what}: not within {self.timeout}s")


def wait_until(
    check: Callable[[], bool], timeout: float = 10, what: str = "condition", interval: float = 0.02
) -> None:
    """Call ``check`` every ``interval`` seconds until it is true."""
    deadline = Deadline(timeout, what)
    while not check():
        deadline.check()
        time.sleep(interval)


async def wait_until_async(
    check: Callable[[], Awaitable[bool]],
    timeout: float = 10,
    what: str = "condition",
    interval: float = 0.02,
) -> None:
    """Await ``check()`` every ``interval`` seconds until it is true."""
    deadline = Deadline(timeout, what)
    while not await check():
        deadline.check()
        await asyncio.sleep(interval)


def wait_for_results(redis: Redis, meta_key: str, at_least: int, timeout: float) -> None:
    """Until the batch whose meta hash is ``meta_key`` counts ``at_least`` completed
    requests."""
    wait_until(
        lambda: int(redis.hget(meta_key, "completed") or 0) >= at_least,
        timeout,
        f"{at_least} results",
        interval=0.01,
    )

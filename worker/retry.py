"""The retry policy: full-jitter exponential backoff that never waits less than the
provider asked (Retry-After), bounded by attempts and total time. Waits longer than the
defer threshold leave the retry loop so the request can move to a later job."""

from __future__ import annotations

import asyncio
import random

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from worker.errors import RetryableError


class DeferRequest(Exception):
    """Release the worker slot: run this request again after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"defer {delay:.2f}s")
        self.delay = delay
        self.attempts = 0  # upstream attempts spent before deferring


class BackoffWait:
    """tenacity wait: max(Retry-After, full-jitter exponential backoff)."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** (state.attempt_number - 1)))
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None) or 0.0
        return max(float(asked), backoff)


def make_retrying(
    *, attempts: int, max_time: float, base: float, cap: float, defer_threshold: float
) -> AsyncRetrying:
    """A fresh AsyncRetrying per request: a shared one is corrupted by concurrent use."""

    async def sleep_or_defer(seconds: float) -> None:
        if seconds > defer_threshold:
            raise DeferRequest(seconds)
        await asyncio.sleep(seconds)

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, attempts)) | stop_after_delay(max_time),
        wait=BackoffWait(base, cap),
        retry=retry_if_exception_type(RetryableError),
        sleep=sleep_or_defer,
        reraise=True,
    )

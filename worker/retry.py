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

from respq.contract.errors import RetryableError


class DeferRequest(Exception):
    """Release the worker slot: run this request again after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"defer {delay:.2f}s")
        self.delay = delay
        self.attempts = 0  # upstream attempts spent before deferring


def backoff_delay(exc: BaseException | None, failures: int, base: float, cap: float) -> float:
    """max(Retry-After, full-jitter exponential backoff) after the ``failures``-th failure."""
    backoff = random.uniform(0, min(cap, base * 2 ** (failures - 1)))
    asked = getattr(exc, "retry_after", None) or 0.0
    return max(float(asked), backoff)


async def sleep_or_defer(seconds: float, defer_threshold: float) -> None:
    """Sleep in the worker slot only for short waits; longer ones defer the request."""
    if seconds > defer_threshold:
        raise DeferRequest(seconds)
    await asyncio.sleep(seconds)


class BackoffWait:
    """tenacity wait: ``backoff_delay`` counting failures before this loop started."""

    def __init__(self, base: float, cap: float, failures_before: int = 0) -> None:
        self.base = base
        self.cap = cap
        self.failures_before = failures_before

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        failures = self.failures_before + state.attempt_number
        return backoff_delay(exc, failures, self.base, self.cap)


def make_retrying(
    *,
    attempts: int,
    max_time: float,
    base: float,
    cap: float,
    defer_threshold: float,
    failures_before: int = 0,
) -> AsyncRetrying:
    """A fresh AsyncRetrying per request: a shared one is corrupted by concurrent use."""

    async def sleep(seconds: float) -> None:
        await sleep_or_defer(seconds, defer_threshold)

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, attempts)) | stop_after_delay(max_time),
        wait=BackoffWait(base, cap, failures_before),
        retry=retry_if_exception_type(RetryableError),
        sleep=sleep,
        reraise=True,
    )

"""The shared limiter end to end: two worker processes against a strict upstream with the
same limits configured get zero 429s and finish as fast as the limits allow (+10%)."""

from __future__ import annotations

import asyncio
import time

import pytest

from respq import BatchClient
from respq.contract.constants import WORKERS_KEY
from respq.mockapi import MockConfig, MockServer

from helpers.databases import Database
from helpers.factories import items, unique_queue
from helpers.polling import wait_until
from helpers.processes import worker_processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_batch(db: Database, queue: str, n: int) -> float:
    """Once two workers are up, submit ``n`` requests; seconds until all completed."""
    wait_until(lambda: db.redis.zcard(WORKERS_KEY) >= 2, 30, "two live workers")

    async def submit_and_wait() -> float:
        async with BatchClient.from_url(db.url, queue_name=queue) as client:
            # 5 input tokens + 40 output tokens each, as both mockapi and respq count them.
            questions = items(
                n,
                text=lambda i: f"short question {i:04d}",
                model="gpt-5.4-mini",
                max_output_tokens=40,
            )
            batch = await client.submit(questions)
            started = time.monotonic()
            info = await batch.wait(timeout=120, poll_interval=0.05)
            assert info.request_counts.completed == n, info.errors_by_code
            return time.monotonic() - started

    return asyncio.run(submit_and_wait())


@pytest.mark.parametrize(
    ("rpm", "tpm", "n", "per_request"),
    [
        (300, 0, 50, 1.0),  # the request budget binds: 50 requests at 5/s
        (0, 6000, 40, 45.0),  # the token budget binds: 45 tokens each at 6000/min
    ],
    ids=["rpm", "tpm"],
)
def test_two_workers_stay_under_a_strict_upstream_and_use_its_budget(
    db: Database, rpm: int, tpm: int, n: int, per_request: float
) -> None:
    queue = unique_queue()
    with (
        MockServer(MockConfig(rpm=rpm, tpm=tpm)) as upstream,
        worker_processes(2, db, queue, upstream.base_url, RESPQ_RPM=str(rpm), RESPQ_TPM=str(tpm)),
    ):
        elapsed = run_batch(db, queue, n)
        stats = upstream.stats()

    assert stats["by_status"].get("429", 0) == 0
    assert stats["rate_limited"] == 0
    budget = rpm if rpm else tpm
    required = (n - 1) * per_request * 60 / budget  # the first request goes at once
    print(
        f"{n} requests under {'RPM' if rpm else 'TPM'} {budget}: {elapsed:.2f}s, "
        f"limits require {required:.2f}s"
    )
    assert elapsed <= required * 1.10
    assert elapsed >= required * 0.90  # and the limit was really in force


def test_window_algorithm_sends_a_burst_that_fits_without_a_429(db: Database) -> None:
    queue = unique_queue()
    n, rpm = 50, 60  # 50 requests fit one window of 60: they go at once
    with (
        MockServer(MockConfig(rpm=rpm)) as upstream,
        worker_processes(
            2,
            db,
            queue,
            upstream.base_url,
            RESPQ_RPM=str(rpm),
            RESPQ_LIMIT_ALGORITHM="window",
        ),
    ):
        elapsed = run_batch(db, queue, n)
        stats = upstream.stats()
    assert stats["by_status"].get("429", 0) == 0
    # evenly spaced, the same job needs 49 s
    assert elapsed < 10

"""The one arq job function: run the requests a job carries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq.worker import Retry
from redis.exceptions import RedisError

from respq.contract.audit import MAX_JOB_RUNS
from respq.contract.lines import worker_error_line
from respq.worker.results import Result
from respq.worker.runner import RequestRunner

log = logging.getLogger("respq.worker")

# A job that lost Redis mid-way runs again after this long.
REDIS_LOST_RETRY_S = 5.0
# A job that ran out of time runs again after this long.
TIMED_OUT_RETRY_S = 5.0
# arq counts every run of a job (crash reruns, Redis-lost and time-out retries, shutdown
# requeues). Past MAX_JOB_RUNS its unfinished requests are recorded as worker_error
# instead of running forever; arq's own max_tries is one more, so that last run reaches
# this code instead of being dropped by arq.
# The job's own deadline is this much shorter than RESPQ_JOB_TIMEOUT, so it ends itself
# (a counted, retried run) before arq's timeout would drop it as failed.
DEADLINE_MARGIN_S = 5.0


async def run_requests(
    ctx: dict[str, Any], batch_id: str, custom_ids: list[str], attempts_used: int = 0
) -> dict[str, Any]:
    """Send the job's requests and record each outcome; returns a small summary.

    A request already recorded (this job ran before and the worker died) is skipped, so a
    rerun never pays for or counts a request twice.
    """
    runner: RequestRunner = ctx["respq_runner"]
    job_id: str = ctx["job_id"]
    runs = int(ctx.get("job_try") or 1)
    if runs > MAX_JOB_RUNS:
        return await give_up(runner, batch_id, job_id, custom_ids, runs)
    deadline = max(runner.config.job_timeout - DEADLINE_MARGIN_S, 1.0)
    try:
        async with asyncio.timeout(deadline):
            outcome = await runner.run_job(batch_id, job_id, custom_ids, attempts_used)
    except RedisError as exc:
        # Nothing is lost: unrecorded requests are claimed again by the rerun, and the
        # write-back is exactly once for those that were recorded.
        raise Retry(defer=REDIS_LOST_RETRY_S) from exc
    except TimeoutError as exc:
        log.warning("job %s ran past %.0fs (run %d): retrying it", job_id, deadline, runs)
        raise Retry(defer=TIMED_OUT_RETRY_S) from exc
    if outcome.unsent:
        # Shutting down: leave the job queued for another worker (this counts a run).
        raise Retry(defer=0)
    # mode "paused": the claim parked the requests until `resume`; this job is done.
    # mode "lost": another worker took the job over while this one stalled.
    return {"mode": outcome.mode, "sent": outcome.sent}


async def give_up(
    runner: RequestRunner, batch_id: str, job_id: str, custom_ids: list[str], runs: int
) -> dict[str, Any]:
    """Record the job's unfinished requests as worker_error (the claim skips those
    already recorded or owned by another job)."""
    store = runner.store
    claim = await store.claim(
        batch_id, job_id, custom_ids, lease_ms=int(runner.config.lease_seconds * 1000)
    )
    message = f"The job carrying this request did not finish after {runs - 1} runs."
    await asyncio.gather(
        *(
            runner.results.record(
                batch_id,
                Result(item.custom_id, worker_error_line(item.custom_id, message)),
            )
            for item in claim.work
        )
    )
    if claim.work:
        log.warning(
            "job %s gave up after %d runs: %d request(s) recorded as worker_error",
            job_id,
            runs - 1,
            len(claim.work),
        )
    return {"mode": "gave_up", "sent": 0}

"""The one arq job function: run the requests a job carries."""

from __future__ import annotations

from typing import Any

from arq.worker import Retry
from redis.exceptions import RedisError

from worker.runner import RequestRunner

# A paused batch (budget reached) is looked at again after this long.
PAUSED_RECHECK_S = 5.0
# A job that lost Redis mid-way runs again after this long.
REDIS_LOST_RETRY_S = 5.0


async def run_requests(
    ctx: dict[str, Any], batch_id: str, custom_ids: list[str], attempts_used: int = 0
) -> dict[str, Any]:
    """Send the job's requests and record each outcome; returns a small summary.

    A request already recorded (this job ran before and the worker died) is skipped, so a
    rerun never pays for or counts a request twice.
    """
    runner: RequestRunner = ctx["respq_runner"]
    job_id: str = ctx["job_id"]
    leases = ctx["respq_leases"]
    leases.jobs.add(job_id)
    try:
        outcome = await runner.run_job(batch_id, job_id, custom_ids, attempts_used)
    except RedisError as exc:
        # Nothing is lost: unrecorded requests are claimed again by the rerun, and the
        # write-back is exactly once for those that were recorded.
        raise Retry(defer=REDIS_LOST_RETRY_S) from exc
    finally:
        leases.jobs.discard(job_id)
    if outcome.mode == "paused":
        raise Retry(defer=PAUSED_RECHECK_S)
    if outcome.unsent:
        # Shutting down: leave the job queued for another worker. respq counts request
        # attempts itself, so arq's try counter (max_tries is set high) is not a budget.
        raise Retry(defer=0)
    return {"mode": outcome.mode, "sent": outcome.sent}

"""Run the requests of one arq job: claim them, send each (``respq.worker.sender``: the shared
rate limit, retries), and record every outcome exactly once.

Each request ends in exactly one of: a recorded success, a recorded error, or a hand-off
to a later job (long waits release the worker slot). An unexpected exception becomes a
recorded ``worker_error``, never a crashed job that would leave the request unaccounted.
A request of a job run that lost its lease (``worker/job_lease.py``: this worker stalled
and another took the job over) is left to that worker: it is neither sent nor recorded here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from respq.contract.endpoints import Endpoint, endpoint_named
from respq.contract.errors import LeaseLost, UpstreamError
from respq.contract.lines import WORKER_ERROR, answer_line, failure_line, worker_error_line
from respq.worker.account_pause import is_account_failure, pause_reason
from respq.worker.budget import Budget
from respq.worker.config import WorkerConfig
from respq.worker.job_lease import InFlightBounds, JobLease, lease_scripts
from respq.worker.limiter import RateLimiter
from respq.worker.metrics import Metrics
from respq.worker.results import Result, ResultWriter
from respq.worker.retry import DeferRequest
from respq.worker.sender import Sender
from respq.worker.slots import FairSlots
from respq.worker.store import WorkerStore, WorkItem
from respq.worker.upstream import UpstreamClient

log = logging.getLogger("respq.worker")

# A request handed back because its batch was paused for its account runs again after
# this long; its job then finds the batch paused and waits for `respq resume`.
ACCOUNT_PAUSE_RECHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What happened to one job's requests; ``unsent`` were given back (shutdown)."""

    mode: str
    sent: int
    unsent: int


def chain_body(body: dict[str, Any], item: WorkItem) -> tuple[dict[str, Any], bytes]:
    """A chained request continues its parent's stored response; a parent is stored so
    its children can continue it."""
    body = dict(body)
    if item.previous_response_id:
        body["previous_response_id"] = item.previous_response_id
    if item.has_children:
        body["store"] = True
    return body, orjson.dumps(body)


class RequestRunner:
    """One per worker process: the slots that bound requests in flight, the sender (one
    request's attempts), and the outcome of each request: its line, recorded once."""

    def __init__(
        self,
        config: WorkerConfig,
        store: WorkerStore,
        upstream: UpstreamClient,
        limiter: RateLimiter | None,
        *,
        budget: Budget | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.budget = budget or Budget.disabled()
        self.metrics = metrics or Metrics.disabled()
        self.store = store
        # Results go to Redis in groups (one script call for all that finished meanwhile).
        self.results = ResultWriter(store)
        self.sender = Sender(config, upstream, limiter, self.metrics)
        self.slots = FairSlots(config.worker_in_flight)
        self.in_flight = 0
        self.draining = False
        self.bounds = InFlightBounds.of(config)
        self.lease_scripts = lease_scripts(store.redis)
        # The job runs in progress, by job id: the LeaseKeeper renews their leases.
        self.runs: dict[str, JobLease] = {}

    async def run_job(
        self, batch_id: str, job_id: str, custom_ids: list[str], attempts_used: int
    ) -> JobOutcome:
        lease = JobLease(self.lease_scripts, batch_id, job_id, self.bounds)
        claim = await self.store.claim(
            batch_id, job_id, custom_ids, lease_ms=lease.lease_ms, lease_value=lease.value()
        )
        if not claim.work:
            return JobOutcome(claim.mode, 0, 0)
        lease.claimed(item.custom_id for item in claim.work)
        self.runs[job_id] = lease
        try:
            started = await asyncio.gather(
                *(
                    self.run_one(batch_id, item, attempts_used, lease, claim.endpoint)
                    for item in claim.work
                ),
                return_exceptions=True,
            )
        finally:
            if self.runs.get(job_id) is lease:
                del self.runs[job_id]
        # Let every request finish (or fail) before giving up on the job, so no send is
        # left running unowned; then a Redis failure makes arq run the job again later.
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        unsent = [item.custom_id for item, ran in zip(claim.work, started, strict=True) if not ran]
        if lease.lost:  # the job is another worker's now: its claims are not ours to give back
            return JobOutcome("lost", len(started) - len(unsent), 0)
        await self.store.release(batch_id, job_id, unsent)
        return JobOutcome(claim.mode, len(started) - len(unsent), len(unsent))

    async def run_one(
        self,
        batch_id: str,
        item: WorkItem,
        attempts_used: int,
        lease: JobLease,
        endpoint: str = "",
    ) -> bool:
        """Send one request to the batch's ``endpoint`` (as stored; "" is Responses);
        False when it was not started because the worker is draining."""
        async with self.slots.hold(batch_id):
            if self.draining:
                return False
            self.in_flight += 1
            lease.start(item.custom_id)
            try:
                await self._run(batch_id, item, attempts_used, lease, endpoint)
            except LeaseLost:
                log.info(
                    "request %s/%s left to the worker that took its job over",
                    batch_id,
                    item.custom_id,
                    extra={"batch_id": batch_id, "custom_id": item.custom_id},
                )
            finally:
                self.in_flight -= 1
                lease.finish(item.custom_id)
        return True

    async def _run(
        self, batch_id: str, item: WorkItem, attempts_used: int, lease: JobLease, stored: str
    ) -> None:
        store = self.store
        custom_id, raw = item.custom_id, item.body
        model = ""

        async def confirm() -> None:
            await lease.confirm(custom_id)

        try:
            # An endpoint this worker does not know (a newer producer's) is a recorded
            # worker_error, never a request left unended.
            endpoint: Endpoint = endpoint_named(stored)
            body: dict[str, Any] = orjson.loads(raw)
            model = str(body.get("model") or "")
            if endpoint.chains and (item.previous_response_id or item.has_children):
                body, raw = chain_body(body, item)
            async with await self.budget.hold(batch_id, model, body, endpoint) as held:
                result, attempts = await self.sender.send(
                    raw, body, model, attempts_used, endpoint, before_send=confirm
                )
                held.spent(result.facts.usage)
        except LeaseLost:
            raise
        except DeferRequest as deferral:
            if lease.lost:
                raise LeaseLost(f"{batch_id}/{custom_id}: not deferred") from None
            self.metrics.request("deferred", "", model)
            await store.defer(
                batch_id,
                custom_id,
                delay=deferral.delay,
                attempts_used=attempts_used + deferral.attempts,
            )
            return
        except UpstreamError as exc:
            if is_account_failure(exc) and await self._account_paused(batch_id, exc):
                # The key or quota is at fault, not this request: hand it back to run
                # after `respq resume` instead of failing it (and the rest of the batch).
                self.metrics.request("deferred", exc.code, model)
                await store.defer(
                    batch_id, custom_id, delay=ACCOUNT_PAUSE_RECHECK_S, attempts_used=0
                )
                return
            line = failure_line(custom_id, exc)
            await self.results.record(
                batch_id, Result(custom_id, line, model=model, latency=exc.latency), lease
            )
            self._finished(batch_id, custom_id, model, exc.code)
            return
        except RedisError:
            # Redis gone for longer than the client's reconnect backoff: nothing can be
            # recorded now, so the job is retried later instead (see run_job).
            raise
        except Exception as exc:  # a bug must not lose the request: record it
            log.exception(
                "request %s/%s failed inside the worker",
                batch_id,
                custom_id,
                extra={"batch_id": batch_id, "custom_id": custom_id, "code": WORKER_ERROR},
            )
            self.metrics.request("failed", WORKER_ERROR, model)
            line = worker_error_line(custom_id, f"{type(exc).__name__}: {exc}")
            await self.results.record(batch_id, Result(custom_id, line, model=model), lease)
            return
        facts = result.facts
        line = answer_line(custom_id, result.status_code, result.request_id, result.body)
        await self.results.record(
            batch_id,
            Result(
                custom_id,
                line,
                model=model,
                usage=facts.usage,
                response_id=facts.id,
                incomplete=facts.incomplete,
                latency=result.latency,
            ),
            lease,
        )
        self.metrics.used(model, facts.usage)
        self._finished(batch_id, custom_id, model, "", attempts)

    async def _account_paused(self, batch_id: str, exc: UpstreamError) -> bool:
        """Count an account-level failure; True when the batch is now paused for it."""
        threshold = self.config.account_error_pause
        if threshold <= 0:
            return False
        return await self.store.account_failure(
            batch_id, threshold=threshold, reason=pause_reason(exc, threshold)
        )

    def _finished(
        self, batch_id: str, custom_id: str, model: str, code: str, attempts: int = 0
    ) -> None:
        """One log line (DEBUG when it succeeded, INFO when it failed) and the counter."""
        extra = {"batch_id": batch_id, "custom_id": custom_id, "code": code or "ok", "model": model}
        if code:
            log.info("request %s/%s failed: %s", batch_id, custom_id, code, extra=extra)
        else:
            log.debug(
                "request %s/%s done after %d attempt(s)",
                batch_id,
                custom_id,
                attempts,
                extra=extra,
            )
        self.metrics.request("failed" if code else "completed", code, model)

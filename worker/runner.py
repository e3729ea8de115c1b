"""Run the requests of one arq job: claim them, send each under the shared rate limit
with retries, and record every outcome exactly once.

Each request ends in exactly one of: a recorded success, a recorded error, or a hand-off
to a later job (long waits release the worker slot). An unexpected exception becomes a
recorded ``worker_error``, never a crashed job that would leave the request unaccounted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from contract.lines import answer_line, error_line
from worker.budget import Budget
from worker.config import WorkerConfig
from worker.errors import RateLimited, RetryableError, UpstreamError
from worker.estimate import estimate_tokens
from worker.limiter import Limits, RateLimiter
from worker.limits_config import limits_for, parse_model_limits, scope_for
from worker.metrics import Metrics
from worker.outcome import failure_line, is_account_failure, pause_reason
from worker.results import Result, ResultWriter
from worker.retry import DeferRequest, backoff_delay, make_retrying, sleep_or_defer
from worker.slots import FairSlots
from worker.store import WorkerStore, WorkItem
from worker.upstream import UpstreamClient, UpstreamSuccess

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
    """One per worker process: the semaphore that bounds requests in flight, the shared
    HTTP client, the limiter and the Redis bookkeeping."""

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
        self.upstream = upstream
        self.limiter = limiter
        self.slots = FairSlots(config.max_jobs)
        self.in_flight = 0
        self.draining = False
        self._model_limits = parse_model_limits(config.model_limits or "{}")
        # per model, computed once per process: its limits and its limiter scope
        self._limits_cache: dict[str, tuple[Limits, str]] = {}

    def limits(self, model: str) -> tuple[Limits, str]:
        """The model's limits and the scope they are shared in (base URL + model)."""
        cached = self._limits_cache.get(model)
        if cached is None:
            cfg = self.config
            limits = limits_for(
                model,
                rpm=cfg.rpm,
                tpm=cfg.tpm,
                burst=cfg.burst,
                model_limits=self._model_limits,
                margin=cfg.limit_margin,
                algorithm=cfg.limit_algorithm,
            )
            cached = (limits, scope_for(cfg.base_url, model))
            self._limits_cache[model] = cached
        return cached

    async def run_job(
        self, batch_id: str, job_id: str, custom_ids: list[str], attempts_used: int
    ) -> JobOutcome:
        claim = await self.store.claim(
            batch_id, job_id, custom_ids, lease_ms=int(self.config.lease_seconds * 1000)
        )
        if not claim.work:
            return JobOutcome(claim.mode, 0, 0)
        started = await asyncio.gather(
            *(self.run_one(batch_id, item, attempts_used) for item in claim.work),
            return_exceptions=True,
        )
        # Let every request finish (or fail) before giving up on the job, so no send is
        # left running unowned; then a Redis failure makes arq run the job again later.
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        unsent = [item.custom_id for item, ran in zip(claim.work, started, strict=True) if not ran]
        await self.store.release(batch_id, job_id, unsent)
        return JobOutcome(claim.mode, len(started) - len(unsent), len(unsent))

    async def run_one(self, batch_id: str, item: WorkItem, attempts_used: int) -> bool:
        """Send one request; False when it was not started because the worker is draining."""
        async with self.slots.hold(batch_id):
            if self.draining:
                return False
            self.in_flight += 1
            try:
                await self._run(batch_id, item, attempts_used)
            finally:
                self.in_flight -= 1
        return True

    async def _run(self, batch_id: str, item: WorkItem, attempts_used: int) -> None:
        store = self.store
        custom_id, raw = item.custom_id, item.body
        model = ""
        try:
            body: dict[str, Any] = orjson.loads(raw)
            model = str(body.get("model") or "")
            if item.previous_response_id or item.has_children:
                body, raw = chain_body(body, item)
            async with await self.budget.hold(batch_id, model, body) as held:
                result, attempts = await self._send_with_retries(raw, body, model, attempts_used)
                held.spent(result.facts.usage)
        except DeferRequest as deferral:
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
                batch_id, Result(custom_id, line, ok=False, code=exc.code, model=model)
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
                extra={"batch_id": batch_id, "custom_id": custom_id, "code": "worker_error"},
            )
            self.metrics.request("failed", "worker_error", model)
            line = error_line(custom_id, "worker_error", f"{type(exc).__name__}: {exc}")
            await self.results.record(
                batch_id, Result(custom_id, line, ok=False, code="worker_error", model=model)
            )
            return
        facts = result.facts
        line = answer_line(custom_id, result.status_code, result.request_id, result.body)
        await self.results.record(
            batch_id,
            Result(
                custom_id,
                line,
                ok=True,
                model=model,
                usage=facts.usage,
                response_id=facts.id,
                incomplete=facts.incomplete,
            ),
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

    async def _send_with_retries(
        self, raw: bytes, body: dict[str, Any], model: str, attempts_used: int
    ) -> tuple[UpstreamSuccess, int]:
        cfg = self.config
        limiter = self.limiter
        limits, scope = self.limits(model)
        # Unlimited scopes still pass through the limiter: it holds the shared 429
        # cool-down that every worker honours.
        limited = limiter is not None and not limits.unlimited
        estimate = (
            estimate_tokens(body, default_max_output_tokens=cfg.default_max_output_tokens)
            if limited
            else 0
        )
        stream = bool(body.get("stream"))
        attempts = 0

        async def attempt() -> UpstreamSuccess:
            nonlocal attempts
            if limiter is not None:
                grant = await limiter.reserve(scope, limits, estimate, max_wait=cfg.defer_threshold)
                if not grant.granted:
                    raise DeferRequest(grant.wait)
                self.metrics.waited(grant.wait)
                if grant.wait > 0:
                    # Without a budget to space them, everyone waiting out a shared 429
                    # cool-down would fire at the same instant; spread them a little.
                    spread = 0.0 if limited else random.uniform(0, min(1.0, grant.wait / 4))
                    await asyncio.sleep(grant.wait + spread)
            attempts += 1
            if attempts > 1 or attempts_used:
                self.metrics.retried()
            try:
                with self.metrics.upstream_call(model):
                    answer = await self.upstream.send(raw, stream=stream)
            except RateLimited as exc:
                if limiter is not None:
                    await limiter.on_rate_limited(scope, exc.retry_after)
                raise
            if limited and limiter is not None:
                await limiter.observe_headers(scope, limits, answer.headers)
                total = answer.facts.usage.total_tokens
                await limiter.settle(
                    scope,
                    limits,
                    estimated=estimate,
                    actual=total or estimate,
                    refund=cfg.tpm_refund,
                )
            return answer

        try:
            # Nearly every request succeeds first time: try once before paying for
            # tenacity's machinery (about a tenth of a busy worker's CPU).
            try:
                return await attempt(), attempts
            except RetryableError as first:
                left = cfg.max_attempts - attempts_used - attempts
                if left <= 0:
                    raise
                delay = backoff_delay(first, attempts_used + 1, cfg.retry_base, cfg.retry_cap)
                await sleep_or_defer(delay, cfg.defer_threshold)
            retrying = make_retrying(
                attempts=left,
                max_time=cfg.retry_max_time,
                base=cfg.retry_base,
                cap=cfg.retry_cap,
                defer_threshold=cfg.defer_threshold,
                failures_before=attempts_used + 1,
            )
            async for try_ in retrying:
                with try_:
                    result = await attempt()
        except DeferRequest as deferral:
            deferral.attempts = attempts
            raise
        return result, attempts

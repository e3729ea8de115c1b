"""One request's attempts: reserve under the shared rate limit, send, feed the limiter
what the provider said, and retry what is worth retrying (tenacity, a fresh
``AsyncRetrying`` per request). A wait longer than RESPQ_DEFER_THRESHOLD is not slept in
the worker slot: it raises DeferRequest so the request is handed to a later job."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from respq.contract.endpoints import DEFAULT_ENDPOINT, Endpoint
from respq.contract.errors import RateLimited, RetryableError, UpstreamError
from respq.worker.activity import ScopeActivity
from respq.worker.config import WorkerConfig
from respq.worker.limiter import Limits, RateLimiter
from respq.worker.limits_config import limits_for, parse_model_limits, scope_for
from respq.worker.metrics import Metrics
from respq.worker.retry import DeferRequest, backoff_delay, make_retrying, sleep_or_defer
from respq.worker.upstream import UpstreamClient, UpstreamSuccess


class Sender:
    def __init__(
        self,
        config: WorkerConfig,
        upstream: UpstreamClient,
        limiter: RateLimiter | None,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.limiter = limiter
        self.metrics = metrics
        # per scope: limits, sends, tokens and 429s, for the worker's heartbeat
        self.activity = ScopeActivity()
        self._model_limits = parse_model_limits(config.model_limits or "{}")
        self._default_limits = config.limits()
        # per model, computed once per process: its limits and its limiter scope
        self._limits_cache: dict[str, tuple[Limits, str]] = {}

    def limits(self, model: str) -> tuple[Limits, str]:
        """The model's limits and the scope they are shared in (base URL + model)."""
        cached = self._limits_cache.get(model)
        if cached is None:
            cfg = self.config
            limits = limits_for(model, self._default_limits, self._model_limits)
            cached = (limits, scope_for(cfg.base_url, model))
            self._limits_cache[model] = cached
        return cached

    async def send(
        self,
        raw: bytes,
        body: dict[str, Any],
        model: str,
        attempts_used: int,
        endpoint: Endpoint = DEFAULT_ENDPOINT,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[UpstreamSuccess, int]:
        """Send one request to ``endpoint`` until it succeeds, fails for good or must wait
        (DeferRequest); returns the answer and the attempts it took. ``before_send`` runs
        right before each attempt goes out (after any wait) and may stop it by raising."""
        cfg = self.config
        limiter = self.limiter
        limits, scope = self.limits(model)
        # Unlimited scopes still pass through the limiter: it holds the shared 429
        # cool-down that every worker honours.
        limited = limiter is not None and not limits.unlimited
        estimate = (
            endpoint.estimate(body, default_max_output_tokens=cfg.default_max_output_tokens)
            if limited
            else 0
        )
        stream = endpoint.streams and body.get("stream") is True
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
            if before_send is not None:
                await before_send()
            attempts += 1
            if attempts > 1 or attempts_used:
                self.metrics.retried()
            self.activity.sent(scope, limits)
            started = time.perf_counter()
            try:
                with self.metrics.upstream_call(model):
                    answer = await self.upstream.send(raw, stream=stream, endpoint=endpoint)
            except UpstreamError as exc:
                exc.latency = time.perf_counter() - started
                if isinstance(exc, RateLimited):
                    self.activity.rate_limited(scope, limits)
                    if limiter is not None:
                        await limiter.on_rate_limited(scope, exc.retry_after)
                raise
            answer = dataclasses.replace(answer, latency=time.perf_counter() - started)
            self.activity.used(scope, limits, answer.facts.usage.total_tokens or estimate)
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

"""Prometheus metrics of one worker process (``RESPQ_METRICS_PORT``; 0 = off).

Every metric lives in a ``CollectorRegistry`` owned by a ``Metrics`` object that start-up
creates and hands to the runner; a disabled ``Metrics`` does nothing. The HTTP endpoint is
prometheus-client's ``start_http_server`` (a daemon thread, so the event loop never
blocks), and the queue depth is refreshed by one ZCARD every ``QUEUE_PROBE_S``.

========================================  =========  ===================================
metric                                    type       labels
========================================  =========  ===================================
``respq_requests_total``                  counter    outcome (completed|failed|deferred),
                                                     code, model
``respq_upstream_seconds``                histogram  model
``respq_tokens_total``                    counter    direction (input|output), model
``respq_limiter_wait_seconds``            histogram
``respq_retries_total``                   counter
``respq_queue_depth``                     gauge
``respq_in_flight``                       gauge
========================================  =========  ===================================
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from respq.contract.response import Usage

log = logging.getLogger("respq.worker")

QUEUE_PROBE_S = 5.0
UPSTREAM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600)
WAIT_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """The worker's metrics; every method is a no-op when ``enabled`` is False."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        self._server: Any = None
        self._thread: Any = None
        self._probe: asyncio.Task[None] | None = None
        if not enabled:
            return
        r = self.registry
        self.requests = Counter(
            "respq_requests",
            "Requests finished (or deferred) by outcome, error code and model.",
            ["outcome", "code", "model"],
            registry=r,
        )
        self.upstream = Histogram(
            "respq_upstream_seconds",
            "Upstream call latency, per attempt.",
            ["model"],
            buckets=UPSTREAM_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "respq_tokens",
            "Tokens used by direction and model.",
            ["direction", "model"],
            registry=r,
        )
        self.limiter_wait = Histogram(
            "respq_limiter_wait_seconds",
            "Time waited for the shared rate limiter before a call.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.retries = Counter("respq_retries", "Upstream attempts after the first.", registry=r)
        self.queue_depth = Gauge("respq_queue_depth", "Jobs in the arq queue.", registry=r)
        self.in_flight = Gauge("respq_in_flight", "Upstream requests in flight.", registry=r)

    @classmethod
    def disabled(cls) -> Metrics:
        return cls(enabled=False)

    # -- recording --------------------------------------------------------------------------

    def request(self, outcome: str, code: str, model: str) -> None:
        if self.enabled:
            self.requests.labels(outcome, code, model or "-").inc()

    def used(self, model: str, usage: Usage | None) -> None:
        if self.enabled and usage is not None:
            self.tokens.labels("input", model or "-").inc(usage.input_tokens)
            self.tokens.labels("output", model or "-").inc(usage.output_tokens)

    @contextmanager
    def upstream_call(self, model: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self.upstream.labels(model or "-").observe(time.perf_counter() - started)

    def waited(self, seconds: float) -> None:
        if self.enabled:
            self.limiter_wait.observe(max(seconds, 0.0))

    def retried(self) -> None:
        if self.enabled:
            self.retries.inc()

    def track_in_flight(self, count: Callable[[], int]) -> None:
        if self.enabled:
            self.in_flight.set_function(lambda: float(count()))

    def exposition(self) -> bytes:
        """The text format, as the endpoint serves it (for tests and debugging)."""
        return generate_latest(self.registry)

    # -- serving ----------------------------------------------------------------------------

    def start(self, port: int, redis: Redis | None = None, queue_name: str = "") -> None:
        """Serve on ``port`` (daemon thread) and probe the queue depth every few seconds."""
        if not self.enabled:
            return
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, registry=self.registry)
        if redis is not None and queue_name:
            self._probe = asyncio.create_task(
                self._probe_queue(redis, queue_name), name="respq-metrics-queue"
            )

    @property
    def port(self) -> int | None:
        return int(self._server.server_port) if self._server is not None else None

    async def refresh_queue_depth(self, redis: Redis, queue_name: str) -> None:
        if self.enabled:
            self.queue_depth.set(await redis.zcard(queue_name))

    async def _probe_queue(self, redis: Redis, queue_name: str) -> None:
        while True:
            try:
                await self.refresh_queue_depth(redis, queue_name)
            except RedisError as exc:
                log.debug("queue depth probe failed: %s", exc)
            await asyncio.sleep(QUEUE_PROBE_S)

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
            self._probe = None
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()


__all__ = ["Metrics"]

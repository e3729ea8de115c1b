"""A scripted upstream for workers on fakeredis (``httpx.MockTransport``), and the few
steps every such test takes: build the worker's settings, drain the queue, read the lines."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from fakeredis.aioredis import FakeRedis

from respq import BatchClient
from respq.worker import WorkerConfig

from helpers.factories import response_body
from helpers.workers import build_worker, run_burst

Handler = Callable[[httpx.Request], httpx.Response]


class Upstream:
    """A scripted upstream: records every call, answers with ``handler``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.calls: list[tuple[float, dict[str, Any]]] = []
        self.handler = handler or (lambda _: httpx.Response(200, json=response_body()))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((time.monotonic(), orjson.loads(request.content)))
        return self.handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


# The workers' key for the scripted upstream: a test can look for it where it must not be.
API_KEY = "sk-unit-key-123"


def config(queue_name: str = "q", **overrides: Any) -> WorkerConfig:
    """A worker's settings for the scripted upstream: quick retries, at most 3 attempts."""
    defaults: dict[str, Any] = {
        "base_url": "http://upstream.test/v1",
        "api_key": API_KEY,
        "queue_name": queue_name,
        "retry_base": 0.01,
        "retry_cap": 0.02,
        "max_attempts": 3,
    }
    return WorkerConfig(**{**defaults, **overrides})


async def drain(
    fake_redis: FakeRedis, queue_name: str, upstream: Upstream, **overrides: Any
) -> None:
    worker = build_worker(
        config(queue_name, **overrides), redis_pool=fake_redis, transport=upstream.transport()
    )
    await run_burst(worker)


async def lines(client: BatchClient, batch_id: str) -> list[dict[str, Any]]:
    batch = await client.get(batch_id)
    return [orjson.loads(raw) async for raw in batch.result_lines()]

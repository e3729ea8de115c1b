"""Helpers shared by the test modules: in-process arq workers and mock transports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from contract.lines import OutputLine
from worker import WorkerConfig, worker_options
from worker.dispatch import Dispatcher
from worker.resilient import ResilientWorker


def build_worker(
    config: WorkerConfig,
    *,
    redis_pool: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
    database: int | None = None,
    burst: bool = True,
) -> ResilientWorker:
    """The worker class and wiring production uses, built inside the running loop."""
    options = worker_options(config)
    options["ctx"] = {"respq_config": config, "respq_transport": transport}
    if database is not None:
        options["redis_settings"].database = database
    if redis_pool is not None:
        options.pop("redis_settings")
        options["redis_pool"] = redis_pool
    return ResilientWorker(**options, burst=burst, handle_signals=False)


async def run_burst(worker: ResilientWorker, timeout: float = 60) -> None:
    """Run a burst worker until the queue is empty, then close it."""
    try:
        await asyncio.wait_for(worker.main(), timeout)
    finally:
        await worker.close()


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 10, interval: float = 0.02
) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def response_body(
    text: str = "ok", *, model: str = "gpt-5.4", tokens: tuple[int, int] = (5, 7)
) -> dict[str, Any]:
    """A minimal Responses API body in the seed's shape."""
    return {
        "id": "resp_test",
        "object": "response",
        "created_at": 1772294400,
        "status": "completed",
        "model": model,
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            }
        ],
        "output_text": text,
        "usage": {
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": tokens[0] + tokens[1],
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens_details": {"reasoning_tokens": 2},
        },
    }


def code_of(line: dict[str, Any]) -> str:
    """A stored output line's failure code (HTTP failures included), or "ok"."""
    return OutputLine.model_validate(line).code or "ok"


async def dispatch_all(redis: Any, queue_name: str) -> list[str]:
    """Hand every waiting job of the queue's scheduled batches to arq's queue, as workers
    do a few at a time; returns the ids of the jobs then in the queue."""
    await Dispatcher(redis, queue_name).refill(1_000_000)
    return [raw.decode() for raw in await redis.zrange(queue_name, 0, -1)]

"""respq (2 workers) vs the openai-cookbook ``api_request_parallel_processor`` pattern.

Both do the same job against the same mockapi with a strict sliding-window limit
(``--rpm``, default 3000): time to finish, 429s received, requests that ended failed.

The peer is a faithful minimal port of the cookbook loop to asyncio + httpx, in one process:
a request bucket and a token bucket that start full (capacity = one minute of budget) and
refill continuously, a 1 ms loop, a fixed 15 s pause of the whole loop after a 429, a retry
queue and 5 attempts per request. The request count defaults to 4/3 of one minute's budget
(so the job cannot be done inside a single window) and is printed.

    .venv/bin/python -m bench.peer [--rpm 3000] [--n N] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient

MAX_OUTPUT = 50
PAUSE_AFTER_429 = 15.0
MAX_ATTEMPTS = 5


@dataclass
class Tracker:
    """The cookbook's StatusTracker, less what this comparison never reads (the 429s
    are counted by the mock)."""

    in_progress: int = 0
    succeeded: int = 0
    failed: int = 0
    last_429: float = 0.0


@dataclass
class Request:
    index: int
    payload: bytes
    tokens: int
    attempts_left: int = MAX_ATTEMPTS
    result: list[Any] = field(default_factory=list)


def estimate(b: dict[str, Any]) -> int:
    """The cookbook's consumption estimate: prompt tokens + max output tokens."""
    return math.ceil(len(b["input"]) / 4) + int(b.get("max_output_tokens") or 0)


async def cookbook(base_url: str, n: int, rpm: int, tpm: int) -> Tracker:
    url = base_url + "/responses"
    headers = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
    pending = []
    for i in range(n):
        b = inputs.body(i, max_output_tokens=MAX_OUTPUT)
        pending.append(Request(i, orjson.dumps(b), estimate(b)))
    pending.reverse()
    retry_queue: asyncio.Queue[Request] = asyncio.Queue()
    tracker = Tracker()
    req_cap = float(rpm)
    tok_cap = float(tpm) if tpm else math.inf
    last = time.monotonic()
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)

    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def call(req: Request) -> None:
            try:
                answer = await client.post(url, content=req.payload)
                failed = answer.status_code != 200
                if answer.status_code == 429:
                    tracker.last_429 = time.monotonic()
            except httpx.HTTPError:
                failed = True
            if failed:
                if req.attempts_left:
                    retry_queue.put_nowait(req)
                else:
                    tracker.failed += 1
                    tracker.in_progress -= 1
            else:
                tracker.succeeded += 1
                tracker.in_progress -= 1

        tasks: set[asyncio.Task[None]] = set()
        next_request: Request | None = None
        while True:
            if next_request is None:
                if not retry_queue.empty():
                    next_request = retry_queue.get_nowait()
                elif pending:
                    next_request = pending.pop()
                    tracker.in_progress += 1
            now = time.monotonic()
            elapsed, last = now - last, now
            req_cap = min(req_cap + rpm * elapsed / 60.0, float(rpm))
            if tpm:
                tok_cap = min(tok_cap + tpm * elapsed / 60.0, float(tpm))
            if next_request is not None and req_cap >= 1 and tok_cap >= next_request.tokens:
                req_cap -= 1
                tok_cap -= next_request.tokens
                next_request.attempts_left -= 1
                task = asyncio.create_task(call(next_request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_request = None
            if tracker.in_progress == 0:
                break
            await asyncio.sleep(0.001)
            since_429 = time.monotonic() - tracker.last_429
            if tracker.last_429 and since_429 < PAUSE_AFTER_429:
                await asyncio.sleep(PAUSE_AFTER_429 - since_429)
    return tracker


async def submit(n: int, queue: str) -> str:
    items = [inputs.body(i, max_output_tokens=MAX_OUTPUT) for i in range(n)]
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        return (await client.submit(items)).id


def run_respq(n: int, rpm: int, tpm: int, workers: int, algorithm: str) -> dict[str, Any]:
    stack.flush_db()
    mock = stack.MockApi(rpm=rpm, tpm=tpm)
    queue = stack.unique_queue()
    extra: dict[str, Any] = {"rpm": rpm, "limit_algorithm": algorithm}
    if tpm:
        extra["tpm"] = tpm
    procs = stack.start_workers(workers, queue, mock.base_url, **extra)
    try:
        mock.reset()
        t0 = time.monotonic()
        batch_id = asyncio.run(submit(n, queue))
        done = stack.wait_batch(batch_id, timeout=600)
        _, completed, failed = stack.batch_counts(batch_id)
        stats = mock.stats()
    finally:
        stack.stop_all(procs)
        mock.stop()
        stack.flush_db()
    return {
        "seconds": done - t0,
        "ok": completed,
        "failed": failed,
        "429": stats["rate_limited"],
        "max_req": stats["max_requests_in_window"],
    }


def run_peer(n: int, rpm: int, tpm: int) -> dict[str, Any]:
    mock = stack.MockApi(rpm=rpm, tpm=tpm)
    try:
        mock.reset()
        t0 = time.monotonic()
        tracker = asyncio.run(cookbook(mock.base_url, n, rpm, tpm))
        seconds = time.monotonic() - t0
        stats = mock.stats()
    finally:
        mock.stop()
    return {
        "seconds": seconds,
        "ok": tracker.succeeded,
        "failed": tracker.failed,
        "429": stats["rate_limited"],
        "max_req": stats["max_requests_in_window"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.peer", description=__doc__)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--tpm", type=int, default=0, help="0 = no token limit")
    parser.add_argument("--n", type=int, default=0, help="default: 4/3 of --rpm")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    n = args.n or args.rpm * 4 // 3
    print(measure.machine_line())
    print(f"requests: {n:,}, mockapi --rpm {args.rpm} --tpm {args.tpm} (sliding 60 s window)")
    peer = run_peer(n, args.rpm, args.tpm)
    spaced = run_respq(n, args.rpm, args.tpm, args.workers, "gcra")
    window = run_respq(n, args.rpm, args.tpm, args.workers, "window")
    ideal = 60.0 * ((n - 1) // args.rpm)  # the last window's first request, at best
    rows = []
    for label, r in (
        ("cookbook parallel processor (1 process, asyncio + httpx)", peer),
        (f"respq ({args.workers} workers, RESPQ_RPM={args.rpm}, default gcra)", spaced),
        (f"respq ({args.workers} workers, RESPQ_LIMIT_ALGORITHM=window)", window),
    ):
        rows.append(
            [
                label,
                r["seconds"],
                r["seconds"] / peer["seconds"],
                r["ok"],
                r["failed"],
                r["429"],
                r["max_req"],
            ]
        )
    report.print_table(
        [
            "processor",
            "seconds to finish",
            "× cookbook time",
            "succeeded",
            "failed",
            "429s",
            "max requests in a 60 s window",
        ],
        rows,
        f"Same {n:,}-request job under a strict {args.rpm} RPM window "
        f"(no client can finish before ~{ideal:.0f} s; "
        f"pure spacing needs ~{n / args.rpm * 60:.0f} s)",
    )


if __name__ == "__main__":
    main()

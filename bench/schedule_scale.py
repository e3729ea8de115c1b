"""Fair scheduling at scale: submit and dispatch cost stay flat however much is queued,
and no Lua call blocks Redis for long.

Submits a small batch on an empty Redis, then ``--queued`` requests (one batch, nothing
dispatched), then the same small batch again and ``--batches`` more small ones, so many
batches wait on the schedule. Then dispatches as workers do (refills of ``--want`` jobs,
each dispatched job taken off the queue) and reads every script call's duration from
SLOWLOG (threshold 0).

    .venv/bin/python -m bench.schedule_scale [--queued 1000000] [--small 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient
from respq.worker.dispatch import Dispatcher


async def submit(queue: str, n: int, tag: str) -> float:
    """Seconds per request of one submit of ``n`` requests."""
    items = [{**inputs.body(i), "input": f"{tag} {i}"} for i in range(n)]
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        started = time.perf_counter()
        await client.submit(items)
        return (time.perf_counter() - started) / n


async def dispatch(queue: str, want: int, rounds: int) -> int:
    """Refill the queue ``rounds`` times, taking what was dispatched off it each time."""
    redis = stack.sync_redis()
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        dispatcher = Dispatcher(client.redis, queue)
        made = 0
        for _ in range(rounds):
            made += await dispatcher.refill(want)
            redis.delete(queue)  # the workers took them
        return made


def script_calls() -> dict[str, list[int]]:
    """Script name -> durations (µs) of its calls since slowlog_start."""
    r = stack.sync_redis()
    names = measure.script_names()
    out: dict[str, list[int]] = {}
    for entry in r.slowlog_get(r.slowlog_len()):
        parts = entry["command"].split()
        if parts and parts[0].lower() in (b"evalsha", b"eval") and len(parts) > 1:
            name = names.get(parts[1].decode(), parts[1].decode()[:8])
            out.setdefault(name, []).append(int(entry["duration"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=200, help="small batches waiting")
    parser.add_argument("--want", type=int, default=32, help="free slots per refill")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    stack.flush_db()
    queue = stack.unique_queue()
    measure.slowlog_start(max_len=1_000_000)
    empty = asyncio.run(submit(queue, args.small, "first"))
    asyncio.run(submit(queue, args.queued, "big"))
    behind = asyncio.run(submit(queue, args.small, "second"))
    for b in range(args.batches):
        asyncio.run(submit(queue, 20, f"b{b}"))
    submit_calls = script_calls()
    stack.sync_redis().slowlog_reset()
    started = time.perf_counter()
    made = asyncio.run(dispatch(queue, args.want, args.rounds))
    dispatch_s = time.perf_counter() - started
    calls: dict[str, Any] = script_calls()
    stack.sync_redis().config_set("slowlog-log-slower-than", 10_000)
    used = measure.used_memory()
    print(measure.machine_line())
    report.print_table(
        ["measure", "value"],
        [
            [
                f"submit, µs/request: {args.small:,} on an empty Redis",
                empty * 1e6,
            ],
            [f"submit, µs/request: {args.small:,} behind {args.queued:,} queued", behind * 1e6],
            ["  ratio (1.0 = flat)", behind / empty],
            [
                "slowest enqueue / seal script call, ms",
                max(submit_calls.get("enqueue", [0])) / 1000,
            ],
            ["  seal, ms (max)", max(submit_calls.get("seal", [0])) / 1000],
            [f"dispatch calls ({args.batches + 3} batches scheduled)", len(calls["dispatch"])],
            ["  jobs dispatched", made],
            ["  dispatch call, µs (median)", statistics.median(calls["dispatch"])],
            ["  dispatch call, µs (max)", max(calls["dispatch"])],
            ["  dispatch, jobs/s from one client", made / dispatch_s],
            ["Redis memory, MiB", used / 2**20],
        ],
        title=f"scheduling at scale: {args.queued:,} requests queued",
    )


if __name__ == "__main__":
    main()

"""Dispatch throughput: respq workers vs a raw asyncio loop on the same HTTP stack.

mockapi runs as its own process for every variant. The raw loops (httpx + aiohttp
transport, and plain httpx) run in this process at the same concurrency as one worker's
RESPQ_WORKER_IN_FLIGHT, against the same mockapi: the client-side ceiling. respq is timed from the
moment the batch is queued (submit returned) until every request is recorded.

Also: Redis commands per request at two batch sizes (flat = no O(n) work per job), and at
200 ms latency the achieved concurrency (mockapi ``max_in_flight``) vs max_jobs.

    .venv/bin/python -m bench.dispatch [--n 20000] [--max-jobs 256] [--py-spy DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


async def raw_loop(base_url: str, n: int, concurrency: int, *, aiohttp: bool) -> float:
    """n POSTs by ``concurrency`` tasks on one client; returns seconds."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport: httpx.AsyncBaseTransport = (
        AiohttpTransport(limits=limits) if aiohttp else httpx.AsyncHTTPTransport(limits=limits)
    )
    url = base_url + "/responses"
    bodies = [orjson.dumps(inputs.body(i)) for i in range(n)]
    next_i = 0
    failures = 0
    async with httpx.AsyncClient(transport=transport, headers=HEADERS, timeout=60) as client:

        async def one_task() -> None:
            nonlocal next_i, failures
            while next_i < n:
                i = next_i
                next_i += 1
                answer = await client.post(url, content=bodies[i])
                if answer.status_code != 200 or not orjson.loads(answer.content).get("id"):
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_task() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        print(f"raw loop: {failures} failures", file=sys.stderr)
    return elapsed


async def submit(n: int, queue: str) -> tuple[str, float]:
    items = [inputs.body(i) for i in range(n)]
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        t0 = time.perf_counter()
        batch = await client.submit(items)
        return batch.id, time.perf_counter() - t0


def run_respq(
    mock: stack.MockApi,
    n: int,
    workers: int,
    max_jobs: int,
    *,
    py_spy: Path | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Start workers, queue n requests, time until all are recorded."""
    queue = stack.unique_queue()
    procs = stack.start_workers(workers, queue, mock.base_url, worker_in_flight=max_jobs)
    spies: list[subprocess.Popen[bytes]] = []
    try:
        mock.reset()
        if py_spy is not None:
            py_spy.mkdir(parents=True, exist_ok=True)
            spy = Path(sys.executable).with_name("py-spy")
            for p in procs:
                out = py_spy / f"worker-{workers}w-{p.pid}"
                spies.append(
                    subprocess.Popen(
                        [
                            str(spy),
                            "record",
                            "--pid",
                            str(p.pid),
                            "--rate",
                            "200",
                            "--format",
                            "raw",
                            "-o",
                            f"{out}.txt",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            time.sleep(1.0)
        cmd0 = measure.commands_processed()
        calls0 = measure.command_calls()
        start = time.perf_counter()
        mono0 = time.monotonic()
        batch_id, submit_s = asyncio.run(submit(n, queue))
        queued = time.monotonic()
        done = stack.wait_batch(batch_id, timeout)
        total_s = time.perf_counter() - start
        calls = measure.calls_delta(calls0, measure.command_calls())
        cmds = measure.commands_processed() - cmd0
        stats = mock.stats()
    finally:
        for s in spies:
            s.send_signal(2)
        for s in spies:
            s.wait(30)
        stack.stop_all(procs)
    del mono0
    return {
        "dispatch_s": done - queued,
        "submit_s": submit_s,
        "total_s": total_s,
        "cmds": cmds,
        "evalsha": calls.get("evalsha", 0) + calls.get("eval", 0),
        "calls": calls,
        "mock": stats,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.dispatch", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=2_000, help="second size for cmds/request")
    parser.add_argument(
        "--max-jobs", type=int, default=256, help="RESPQ_WORKER_IN_FLIGHT per worker"
    )
    parser.add_argument("--slow-n", type=int, default=6_000, help="requests at 200 ms latency")
    parser.add_argument("--py-spy", type=Path, default=None, help="record the workers here")
    parser.add_argument("--skip-slow", action="store_true")
    args = parser.parse_args(argv)
    print(measure.machine_line())
    n, conc = args.n, args.max_jobs
    stack.flush_db()
    mock = stack.MockApi(latency=0.0)
    try:
        asyncio.run(raw_loop(mock.base_url, 2000, conc, aiohttp=True))  # warm-up
        raw_s = asyncio.run(raw_loop(mock.base_url, n, conc, aiohttp=True))
        plain_s = asyncio.run(raw_loop(mock.base_url, n, conc, aiohttp=False))
        raw_rate = n / raw_s
        one = run_respq(mock, n, 1, conc, py_spy=args.py_spy)
        stack.flush_db()
        two = run_respq(mock, n, 2, conc)
        stack.flush_db()
        small = run_respq(mock, args.small, 1, conc)
        stack.flush_db()
        raw2_s = asyncio.run(raw_loop(mock.base_url, n, conc, aiohttp=True))  # drift check
    finally:
        mock.stop()
    rows: list[list[Any]] = [
        [f"raw loop httpx+aiohttp, {conc} tasks", n, raw_s, raw_rate, 1.0, "-"],
        ["raw loop httpx+aiohttp again (drift)", n, raw2_s, n / raw2_s, raw_s / raw2_s, "-"],
        [f"raw loop plain httpx, {conc} tasks", n, plain_s, n / plain_s, raw_s / plain_s, "-"],
    ]
    for label, r in (
        (f"respq, 1 worker (max_jobs {conc})", one),
        (f"respq, 2 workers (max_jobs {conc} each)", two),
    ):
        rate = n / r["dispatch_s"]
        rows.append([label, n, r["dispatch_s"], rate, rate / raw_rate, r["mock"]["max_in_flight"]])
    report.print_table(
        ["variant", "requests", "seconds", "requests/s", "× raw aiohttp loop", "max in flight"],
        rows,
        "Dispatch at zero upstream latency (mockapi in its own process)",
    )
    print(
        f"\nrespq submit of the {n:,} (not in the dispatch time): 1w {one['submit_s']:.2f}s, "
        f"2w {two['submit_s']:.2f}s; mockapi answered 1w {one['mock']['requests']:,}, "
        f"2w {two['mock']['requests']:,}"
    )
    report.print_table(
        [
            "requests",
            "Redis commands/request (incl. inside scripts)",
            "EVALSHA/request",
            "other top-level commands",
        ],
        [
            [
                size,
                r["cmds"] / size,
                r["evalsha"] / size,
                ", ".join(
                    f"{k}={v / size:.2f}"
                    for k, v in sorted(r["calls"].items())
                    if k
                    in (
                        "zadd",
                        "zrangebyscore",
                        "zrem",
                        "psetex",
                        "get",
                        "set",
                        "watch",
                        "multi",
                        "exec",
                        "exists",
                        "mget",
                        "delete",
                        "unlink",
                        "pexpire",
                        "zcard",
                        "info",
                        "hmget",
                        "incr",
                        "setex",
                    )
                ),
            ]
            for size, r in ((args.small, small), (n, one))
        ],
        "Redis commands per request, 1 worker, two batch sizes",
    )
    print(f"\nall commands per request at n={n} (includes those run inside Lua):")
    print(
        ", ".join(
            f"{k}={v / n:.2f}" for k, v in sorted(one["calls"].items(), key=lambda kv: -kv[1])
        )
    )
    if args.skip_slow:
        return
    stack.flush_db()
    slow = stack.MockApi(latency=0.2)
    try:
        r = run_respq(slow, args.slow_n, 1, conc)
    finally:
        slow.stop()
        stack.flush_db()
    rate = args.slow_n / r["dispatch_s"]
    report.print_table(
        [
            "latency",
            "max_jobs",
            "requests",
            "seconds",
            "requests/s",
            "max_jobs/latency",
            "rate / (max_jobs/latency)",
            "mockapi max_in_flight",
            "max_in_flight / max_jobs",
        ],
        [
            [
                "200 ms",
                conc,
                args.slow_n,
                r["dispatch_s"],
                rate,
                conc / 0.2,
                rate / (conc / 0.2),
                r["mock"]["max_in_flight"],
                r["mock"]["max_in_flight"] / conc,
            ]
        ],
        "Achieved concurrency at 200 ms latency, 1 worker",
    )


if __name__ == "__main__":
    main()

"""Scale-out: 1, 2, 4, 8 … workers against one Redis and a multi-process upstream.

mockapi runs as several processes sharing one port (``--reuse-port``: the kernel spreads
connections over them), so the upstream is not the ceiling. For each worker count one
batch is submitted while the workers idle; the measured window starts once the submit
returned and ends when every request is recorded, so submit and start-up are not in it.
It reports requests/s, the speed-up over one worker, and per request: CPU of the (private)
Redis server, CPU of the workers and Redis commands.

    .venv/bin/python -m bench.scaleout [--workers 1,2,4,8] [--n 20000] [--mock-procs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from typing import Any

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient


def start_upstream(procs: int, latency: float) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """``procs`` mockapi processes on one port; returns (base_url, processes)."""
    port = stack.free_port()
    env = {**os.environ, "MOCKAPI_LOG_LEVEL": "warning"}
    cmd = [stack.PYTHON, "-m", "respq.mockapi", "--port", str(port), "--reuse-port"]
    cmd += ["--latency", str(latency), "--store", "false"]
    started = [
        subprocess.Popen(cmd, cwd=stack.ROOT, env=env, stdout=subprocess.DEVNULL)
        for _ in range(procs)
    ]
    stack.wait_http(f"http://127.0.0.1:{port}/health")
    time.sleep(0.5 + 0.2 * procs)  # let every process reach its accept loop
    return f"http://127.0.0.1:{port}/v1", started


async def submit(n: int, queue: str) -> str:
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        batch = await client.submit([inputs.body(i) for i in range(n)])
        return batch.id


def run(
    base_url: str, workers: int, n: int, max_jobs: int, timeout: float, *, slowlog: bool = False
) -> dict[str, Any]:
    """One batch of ``n`` through ``workers`` workers; the window starts after submit.
    ``slowlog`` logs every Redis command of the window (slower: a profile, not a rate)."""
    stack.flush_db()
    queue = stack.unique_queue()
    procs = stack.start_workers(workers, queue, base_url, worker_in_flight=max_jobs)
    try:
        batch_id = asyncio.run(submit(n, queue))
        _, completed, failed = stack.batch_counts(batch_id)
        start_done = completed + failed
        redis0, cmds0, stats0 = (
            measure.redis_cpu_seconds(),
            measure.commands_processed(),
            measure.command_usec(),
        )
        cpu0 = [measure.cpu_seconds(p.pid) for p in procs]
        if slowlog:
            measure.slowlog_start()
        t0 = time.monotonic()
        t1 = stack.wait_batch(batch_id, timeout, interval=0.02)
        redis1, cmds1, stats1 = (
            measure.redis_cpu_seconds(),
            measure.commands_processed(),
            measure.command_usec(),
        )
        cpu1 = [measure.cpu_seconds(p.pid) for p in procs]
        _, completed, failed = stack.batch_counts(batch_id)
        profile = measure.slowlog_by_command(n - start_done) if slowlog else []
    finally:
        stack.stop_all(procs)
    done = n - start_done
    seconds = t1 - t0
    return {
        "n": n,
        "done": done,
        "seconds": seconds,
        "rate": done / seconds,
        "redis_us": (redis1 - redis0) / done * 1e6,
        "redis_share": (redis1 - redis0) / seconds,
        "worker_us": sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / done * 1e6,
        "cmds": (cmds1 - cmds0) / done,
        "failed": failed,
        "slowlog": profile,
        "commands": {
            name: (calls - stats0.get(name, (0, 0))[0], usec - stats0.get(name, (0, 0))[1])
            for name, (calls, usec) in stats1.items()
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.scaleout", description=__doc__)
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated")
    parser.add_argument("--n", type=int, default=20_000, help="requests per run (at least)")
    parser.add_argument(
        "--per-worker", type=int, default=5_000, help="requests per worker, if more than --n"
    )
    parser.add_argument("--mock-procs", type=int, default=max(2, (os.cpu_count() or 2) // 2))
    parser.add_argument(
        "--max-jobs", type=int, default=256, help="RESPQ_WORKER_IN_FLIGHT per worker"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="mockapi latency, seconds")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--profile-redis",
        action="store_true",
        help="then one more run with every command in SLOWLOG: Redis time per script",
    )
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    print(measure.machine_line())
    print(
        f"upstream: {args.mock_procs} mockapi processes on one port (SO_REUSEPORT), "
        f"latency {args.latency:g} s; RESPQ_WORKER_IN_FLIGHT {args.max_jobs}"
    )
    base_url, mocks = start_upstream(args.mock_procs, args.latency)
    results: list[tuple[int, dict[str, Any]]] = []
    profile: list[tuple[str, float, float]] = []
    try:
        for w in counts:
            n = max(args.n, args.per_worker * w)
            results.append((w, run(base_url, w, n, args.max_jobs, args.timeout)))
        if args.profile_redis:
            w = counts[0]
            n = max(args.n, args.per_worker * w)
            profile = run(base_url, w, n, args.max_jobs, args.timeout, slowlog=True)["slowlog"]
    finally:
        stack.stop_all(mocks)
        stack.flush_db()
    base = results[0][1]["rate"]
    rows = [
        [
            w,
            r["done"],
            r["seconds"],
            r["rate"],
            r["rate"] / base,
            r["redis_us"],
            f"{100 * r['redis_share']:.0f} %",
            r["worker_us"],
            r["cmds"],
        ]
        for w, r in results
    ]
    report.print_table(
        [
            "workers",
            "requests",
            "seconds",
            "requests/s",
            f"speed-up (vs {results[0][0]} worker{'s' if results[0][0] > 1 else ''})",
            "Redis CPU µs/request",
            "Redis CPU (of one core)",
            "worker CPU µs/request",
            "Redis commands/request",
        ],
        rows,
        "Scale-out at zero upstream latency (window: submit returned → last result recorded)",
    )
    w, r = results[-1]
    top = sorted(r["commands"].items(), key=lambda kv: -kv[1][1])[:12]
    report.print_table(
        ["command", "calls/request", "µs/request (commandstats)"],
        [[name, calls / r["done"], usec / r["done"]] for name, (calls, usec) in top if calls],
        f"Redis time by command, {w} worker{'s' if w > 1 else ''} (EVALSHA includes "
        "the commands its scripts run)",
    )
    if profile:
        w = counts[0]
        report.print_table(
            ["command or script", "calls/request", "µs/request (SLOWLOG)"],
            [list(row) for row in profile[:14]],
            f"Redis time per script, {w} worker{'s' if w > 1 else ''} (SLOWLOG of every "
            "command, a separate run)",
        )
    failed = sum(r["failed"] for _, r in results)
    if failed:
        print(f"\n{failed} requests failed (see /tmp/respq-bench/worker.log)")


if __name__ == "__main__":
    main()

"""Many requests in flight: one worker with RESPQ_WORKER_IN_FLIGHT >= 1000 against 1 s latency.

Achieved rate vs the ideal max_jobs / latency, mockapi's max_in_flight, the worker's peak
RSS (VmRSS) and CPU per request, and Redis commands per request (INFO stats
total_commands_processed delta / N, including the commands run inside Lua scripts).

    .venv/bin/python -m bench.inflight [--max-jobs 1000] [--n 20000] [--latency 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from typing import Any

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient


async def submit(n: int, queue: str) -> str:
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        return (await client.submit([inputs.body(i) for i in range(n)])).id


def run(max_jobs: int, n: int, latency: float) -> dict[str, Any]:
    stack.flush_db()
    mock = stack.MockApi(latency=latency)
    queue = stack.unique_queue()
    (proc,) = stack.start_workers(1, queue, mock.base_url, worker_in_flight=max_jobs)
    peak = [measure.rss_kb(proc.pid)]
    idle_rss = peak[0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], measure.rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        mock.reset()
        cpu0 = measure.cpu_seconds(proc.pid)
        cmd0 = measure.commands_processed()
        calls0 = measure.command_calls()
        batch_id = asyncio.run(submit(n, queue))
        queued = time.monotonic()
        done = stack.wait_batch(batch_id, timeout=max(120.0, 5 * n * latency / max_jobs))
        cpu = measure.cpu_seconds(proc.pid) - cpu0
        cmds = measure.commands_processed() - cmd0
        calls = measure.calls_delta(calls0, measure.command_calls())
        stats = mock.stats()
    finally:
        stop.set()
        sampler.join()
        stack.stop_all([proc])
        mock.stop()
        stack.flush_db()
    return {
        "seconds": done - queued,
        "cpu": cpu,
        "cmds": cmds,
        "evalsha": calls.get("evalsha", 0),
        "peak_rss": peak[0],
        "idle_rss": idle_rss,
        "max_in_flight": stats["max_in_flight"],
        "answered": stats["requests"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.inflight", description=__doc__)
    parser.add_argument("--max-jobs", type=int, default=1000)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args(argv)
    print(measure.machine_line())
    r = run(args.max_jobs, args.n, args.latency)
    ideal = args.max_jobs / args.latency
    rate = args.n / r["seconds"]
    report.print_table(
        [
            "max_jobs",
            "latency s",
            "requests",
            "seconds",
            "requests/s",
            "max_jobs/latency",
            "rate / ideal",
            "mockapi max_in_flight",
            "worker RSS idle MiB",
            "worker RSS peak MiB",
            "worker CPU µs/request",
            "Redis cmds/request",
            "EVALSHA/request",
        ],
        [
            [
                args.max_jobs,
                args.latency,
                args.n,
                r["seconds"],
                rate,
                ideal,
                rate / ideal,
                r["max_in_flight"],
                r["idle_rss"] / 1024,
                r["peak_rss"] / 1024,
                r["cpu"] / args.n * 1e6,
                r["cmds"] / args.n,
                r["evalsha"] / args.n,
            ]
        ],
        "One worker, many requests in flight",
    )


if __name__ == "__main__":
    main()

"""respq's own cost per request, against its goals, in one run.

Each row is measured here, now, by the benchmark that owns it, and set against a baseline
measured in the same run where the goal is a ratio:

- submit: ``respq submit FILE`` of N lines against an arq ``enqueue_job`` loop (sampled)
  and against ``BatchClient.submit`` (bench.submit); the CLI's peak RSS at N and 10 × N
  lines shows whether its memory is flat;
- Redis and worker CPU per request, 1 and 2 workers at zero upstream latency
  (bench.scaleout);
- Redis memory per finished request, short prompts and 1.5 KB prompts (bench.e2e: submit,
  two workers, ``used_memory`` after).

    .venv/bin/python -m bench.costs [--n 100000] [--flat 1000000] [--memory-n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import e2e, measure, report, scaleout, stack
from bench import submit as submit_bench

# The goals of issue #17.
GOAL_ARQ_RATIO = 30.0  # respq submit FILE vs an arq enqueue_job loop
GOAL_PYTHON_RATIO = 1.3  # respq submit FILE time vs BatchClient.submit time
GOAL_REDIS_US = 40.0
GOAL_WORKER_US = 400.0
GOAL_MEMORY_SHORT = 700.0
GOAL_MEMORY_LONG = 1024.0


def submit_costs(n: int, flat: int, arq_sample: int, tmp: Path) -> dict[str, float]:
    stack.flush_db()
    arq = asyncio.run(submit_bench.arq_loop(arq_sample, stack.unique_queue()))
    stack.flush_db()
    python = asyncio.run(submit_bench.python_submit(n, stack.unique_queue()))
    stack.flush_db()
    env = {**os.environ, "RESPQ_QUEUE_NAME": stack.unique_queue()}
    peaks: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for size in sorted({n, flat}):
        path = tmp / f"submit-{size}.jsonl"
        e2e.write_batch(path, size, 0)
        seconds[size], peaks[size], _ = e2e.run_cli(["submit", str(path)], env)
        path.unlink()
        stack.flush_db()
    start_up, _, _ = e2e.run_cli(["--help"], env)
    return {
        "arq_rate": arq_sample / arq["s"],
        "python_s": python["total_s"],
        "cli_s": seconds[n],
        "start_up_s": start_up,
        "rss_n_mib": peaks[n] / 1024,
        "rss_flat_mib": peaks[flat] / 1024,
    }


def cpu_costs(n: int) -> dict[int, dict[str, Any]]:
    base_url, mocks = scaleout.start_upstream(2, 0.0)
    try:
        return {w: scaleout.run(base_url, w, n, 256, 600) for w in (1, 2)}
    finally:
        stack.stop_all(mocks)
        stack.flush_db()


def memory_per_request(n: int, prompt_bytes: int, tmp: Path) -> float:
    """Redis used_memory per finished request: submit, 2 workers, all done."""
    stack.flush_db()
    queue = stack.unique_queue()
    env = {**os.environ, "RESPQ_QUEUE_NAME": queue, "RESPQ_REDIS_URL": stack.REDIS_URL}
    path = tmp / f"memory-{prompt_bytes}.jsonl"
    e2e.write_batch(path, n, prompt_bytes)
    mem0 = measure.used_memory()
    _, _, out = e2e.run_cli(["submit", str(path)], env)
    batch_id = out.decode().strip().splitlines()[-1]
    mock = stack.MockApi(latency=0.0)
    try:
        procs = stack.start_workers(2, queue, mock.base_url, worker_in_flight=256)
        try:
            stack.wait_batch(batch_id, 600, interval=0.2)
        finally:
            stack.stop_all(procs)
    finally:
        mock.stop()
    time.sleep(0.5)  # let Redis settle its lazy frees
    per_request = (measure.used_memory() - mem0) / n
    stack.flush_db()
    return per_request


def verdict(met: bool, miss: str) -> str:
    return "yes" if met else f"no: {miss}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.costs", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="lines for the submit rows")
    parser.add_argument("--flat", type=int, default=1_000_000, help="lines for the RSS check")
    parser.add_argument("--arq-sample", type=int, default=10_000)
    parser.add_argument("--cpu-n", type=int, default=10_000, help="requests per CPU run")
    parser.add_argument("--memory-n", type=int, default=20_000, help="requests per memory run")
    args = parser.parse_args(argv)
    print(measure.machine_line())
    with tempfile.TemporaryDirectory(prefix="respq-costs-") as directory:
        tmp = Path(directory)
        sub = submit_costs(args.n, args.flat, args.arq_sample, tmp)
        cpu = cpu_costs(args.cpu_n)
        short = memory_per_request(args.memory_n, 0, tmp)
        long = memory_per_request(args.memory_n, 1500, tmp)

    cli_rate = args.n / sub["cli_s"]
    arq_ratio = cli_rate / sub["arq_rate"]
    python_ratio = sub["cli_s"] / sub["python_s"]
    bare_ratio = (sub["cli_s"] - sub["start_up_s"]) / sub["python_s"]
    redis = [cpu[w]["redis_us"] for w in (1, 2)]
    worker = [cpu[w]["worker_us"] for w in (1, 2)]
    grows = sub["rss_flat_mib"] / sub["rss_n_mib"]
    rows = [
        [
            f"`respq submit FILE`, {args.n:,} lines, vs an arq `enqueue_job` loop",
            f"{cli_rate:,.0f} lines/s = {arq_ratio:.1f}× (arq {sub['arq_rate']:,.0f}/s)",
            f"≥ {GOAL_ARQ_RATIO:.0f}×",
            verdict(arq_ratio >= GOAL_ARQ_RATIO, f"{GOAL_ARQ_RATIO - arq_ratio:.1f}× short"),
        ],
        [
            "the same, time vs `BatchClient.submit`",
            f"{python_ratio:.2f}× ({bare_ratio:.2f}× without the "
            f"{sub['start_up_s']:.2f} s interpreter start-up)",
            f"≤ {GOAL_PYTHON_RATIO}×",
            verdict(
                python_ratio <= GOAL_PYTHON_RATIO, f"{python_ratio - GOAL_PYTHON_RATIO:.2f}× over"
            ),
        ],
        [
            f"`respq submit` peak RSS, {args.n:,} → {args.flat:,} lines",
            f"{sub['rss_n_mib']:,.0f} → {sub['rss_flat_mib']:,.0f} MiB ({grows:.2f}×)",
            "flat",
            verdict(grows < 1.25, f"grows {grows:.2f}×"),
        ],
        [
            "Redis CPU per request, 1 / 2 workers, zero latency",
            " / ".join(f"{us:.0f} µs" for us in redis),
            f"≤ {GOAL_REDIS_US:.0f} µs",
            verdict(max(redis) <= GOAL_REDIS_US, f"{max(redis) - GOAL_REDIS_US:.0f} µs over"),
        ],
        [
            "worker CPU per request, 1 / 2 workers",
            " / ".join(f"{us:.0f} µs" for us in worker),
            f"≤ {GOAL_WORKER_US:.0f} µs",
            verdict(max(worker) <= GOAL_WORKER_US, f"{max(worker) - GOAL_WORKER_US:.0f} µs over"),
        ],
        [
            "Redis memory per finished request, short prompts",
            f"{short:,.0f} B",
            f"≤ {GOAL_MEMORY_SHORT:.0f} B",
            verdict(short <= GOAL_MEMORY_SHORT, f"{short - GOAL_MEMORY_SHORT:.0f} B over"),
        ],
        [
            "the same, 1.5 KB prompts",
            f"{long:,.0f} B",
            "≤ 1 KB",
            verdict(long <= GOAL_MEMORY_LONG, f"{long - GOAL_MEMORY_LONG:.0f} B over"),
        ],
    ]
    report.print_table(["cost", "now", "goal", "met?"], rows, "Cost per request against its goals")
    rates = " / ".join(f"{cpu[w]['rate']:,.0f}" for w in (1, 2))
    print(f"\nrequests/s in the CPU runs, 1 / 2 workers: {rates}")


if __name__ == "__main__":
    main()

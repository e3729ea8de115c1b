"""Submit throughput: BatchClient.submit and ``respq submit FILE`` vs an arq enqueue_job loop.

Prints requests/s for the Python API (split into validation and enqueue), the CLI (a
subprocess, interpreter start-up included), an arq ``enqueue_job`` loop (one call per
request, a sample timed and extrapolated), Redis memory per queued request, and the
per-request cost at 1k / 10k / 100k (and 1M with ``--big``) requests.

    .venv/bin/python -m bench.submit [--n 100000] [--big] [--arq-sample 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings

from bench import inputs, measure, report, stack
from respq.contract.serializer import dumps_job, loads_job
from respq.producer.client import BatchClient
from respq.producer.validation import prepare_items


async def python_submit(n: int, queue: str) -> dict[str, float]:
    """Time validation and enqueue separately; memory and commands for the enqueue."""
    items = [
        {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/responses", "body": inputs.body(i)}
        for i in range(n)
    ]
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        await client.ping()
        mem0 = measure.used_memory()
        cmd0 = measure.commands_processed()
        t0 = time.perf_counter()
        prepared = prepare_items(items, max_request_bytes=client.settings.max_request_bytes)
        t1 = time.perf_counter()

        async def gen():  # type: ignore[no-untyped-def]
            for p in prepared:
                yield p

        batch = await client.submit_prepared(gen())
        t2 = time.perf_counter()
        cmds = measure.commands_processed() - cmd0 - 2
        mem = measure.used_memory() - mem0
    total, _, _ = stack.batch_counts(batch.id)
    assert total == n, (total, n)
    jobs = await _waiting_jobs(batch.id)
    return {
        "validate_s": t1 - t0,
        "enqueue_s": t2 - t1,
        "total_s": t2 - t0,
        "mem_per_req": mem / n,
        "cmds_per_req": cmds / n,
        "jobs": jobs,
    }


async def _waiting_jobs(batch_id: str) -> int:
    """The batch's jobs, all waiting for dispatch in its own list (none in arq's queue)."""
    from redis.asyncio import Redis

    from respq.contract.constants import BatchKeys

    r = Redis.from_url(stack.REDIS_URL)
    try:
        return int(await r.llen(BatchKeys(batch_id).jobs))  # type: ignore[misc]
    finally:
        await r.aclose()


async def arq_loop(sample: int, queue: str) -> dict[str, float]:
    pool = await create_pool(
        RedisSettings(database=stack.REDIS_DB),
        job_serializer=dumps_job,
        job_deserializer=loads_job,
        default_queue_name=queue,
    )
    try:
        mem0 = measure.used_memory()
        t0 = time.perf_counter()
        for i in range(sample):
            await pool.enqueue_job("run_requests", "batch_arq", [f"req-{i}"], 0)
        elapsed = time.perf_counter() - t0
        mem = measure.used_memory() - mem0
    finally:
        await pool.aclose()
    return {"s": elapsed, "mem_per_req": mem / sample}


def cli_submit(n: int, queue: str, path: Path) -> float:
    env = {**os.environ, "RESPQ_QUEUE_NAME": queue, "RESPQ_REDIS_URL": stack.REDIS_URL}
    exe = Path(sys.executable).with_name("respq")
    cmd = [str(exe), "--redis-url", stack.REDIS_URL, "submit", str(path)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=stack.ROOT, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"respq submit failed: {out.stderr.decode()[-2000:]}")
    batch_id = out.stdout.decode().strip().splitlines()[-1]
    total, _, _ = stack.batch_counts(batch_id)
    assert total == n, (total, n)
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.submit", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="main batch size")
    parser.add_argument("--big", action="store_true", help="also 1,000,000 requests")
    parser.add_argument("--arq-sample", type=int, default=10_000)
    args = parser.parse_args(argv)
    print(measure.machine_line())
    sizes = [1_000, 10_000, args.n] + ([1_000_000] if args.big else [])
    stack.flush_db()
    try:
        # arq baseline first (same run), extrapolated to n.
        arq = asyncio.run(arq_loop(args.arq_sample, stack.unique_queue()))
        arq_rate = args.arq_sample / arq["s"]
        stack.flush_db()
        results: dict[int, dict[str, float]] = {}
        for n in sizes:
            results[n] = asyncio.run(python_submit(n, stack.unique_queue()))
            stack.flush_db()
        main_n = args.n
        py = results[main_n]
        with tempfile.TemporaryDirectory(prefix="respq-bench-") as tmp:
            cli_rows = []
            for n in [main_n] + ([1_000_000] if args.big else []):
                path = Path(tmp) / f"batch-{n}.jsonl"
                inputs.write_jsonl(path, n)
                cli_rows.append((n, cli_submit(n, stack.unique_queue(), path)))
                stack.flush_db()
            # interpreter + CLI start-up alone: a 1-line file
            one = Path(tmp) / "one.jsonl"
            inputs.write_jsonl(one, 1)
            startup = cli_submit(1, stack.unique_queue(), one)
        py_rate = main_n / py["total_s"]
        rows = [
            ["arq enqueue_job loop (sample)", args.arq_sample, arq["s"], arq_rate, 1.0],
            [
                f"arq enqueue_job loop (extrapolated to {main_n:,})",
                main_n,
                main_n / arq_rate,
                arq_rate,
                1.0,
            ],
            [
                "BatchClient.submit: validate only",
                main_n,
                py["validate_s"],
                main_n / py["validate_s"],
                main_n / py["validate_s"] / arq_rate,
            ],
            [
                "BatchClient.submit: enqueue only",
                main_n,
                py["enqueue_s"],
                main_n / py["enqueue_s"],
                main_n / py["enqueue_s"] / arq_rate,
            ],
            [
                "BatchClient.submit (validate + enqueue)",
                main_n,
                py["total_s"],
                py_rate,
                py_rate / arq_rate,
            ],
        ]
        for n, secs in cli_rows:
            rows.append(["respq submit FILE (subprocess)", n, secs, n / secs, n / secs / arq_rate])
        rows.append(["respq submit of a 1-line file (start-up)", 1, startup, 1 / startup, "-"])
        report.print_table(
            ["path", "requests", "seconds", "requests/s", "× arq loop"],
            rows,
            f"Submit throughput (arq loop measured on {args.arq_sample:,} and extrapolated)",
        )
        cli_main = cli_rows[0][1]
        print(
            f"\nCLI / Python time: {cli_main / py['total_s']:.2f}× "
            f"(CLI minus start-up: {(cli_main - startup) / py['total_s']:.2f}×)"
        )
        report.print_table(
            [
                "requests",
                "total s",
                "µs/request (submit)",
                "µs/request (enqueue only)",
                "Redis cmds/request",
                "jobs",
                "used_memory bytes/request",
            ],
            [
                [
                    n,
                    r["total_s"],
                    r["total_s"] / n * 1e6,
                    r["enqueue_s"] / n * 1e6,
                    r["cmds_per_req"],
                    int(r["jobs"]),
                    r["mem_per_req"],
                ]
                for n, r in results.items()
            ],
            "Per-request cost vs batch size (BatchClient.submit)",
        )
        print(f"\narq enqueue_job loop: {arq['mem_per_req']:.0f} used_memory bytes/request")
    finally:
        stack.flush_db()


if __name__ == "__main__":
    main()

"""What Redis' AOF fsync policy costs respq: submit and dispatch throughput against a
private redis-server with ``appendfsync everysec`` (docker-compose's setting), ``always``
(no acknowledged write is ever lost, even to an OS crash) and no AOF at all, in one run.

Each row: submit N requests from Python, then run them through W workers against a
zero-latency mockapi; the ratio column compares with ``everysec`` from the same run.

    .venv/bin/python -m bench.aof [--n 5000] [--workers 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient

POLICIES = ("everysec", "always", "off")


def start_redis(directory: Path, policy: str) -> tuple[subprocess.Popen[bytes], int]:
    port = stack.free_port()
    aof = ["--appendonly", "no"] if policy == "off" else ["--appendonly", "yes"]
    if policy != "off":
        aof += ["--appendfsync", policy]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--dir", str(directory), "--save", "", *aof],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)


async def submit(url: str, queue: str, n: int) -> tuple[str, float]:
    async with BatchClient.from_url(url, queue_name=queue) as client:
        started = time.perf_counter()
        batch = await client.submit([inputs.body(i) for i in range(n)])
        return batch.id, time.perf_counter() - started


def run(policy: str, n: int, workers: int, mock: stack.MockApi) -> dict[str, Any]:
    # /tmp is ext4 on this machine (not tmpfs), so fsync costs what it costs on disk.
    with tempfile.TemporaryDirectory(prefix="respq-aof-") as tmp:
        server, port = start_redis(Path(tmp), policy)
        url = f"redis://127.0.0.1:{port}/0"
        sync = redis.Redis(port=port)
        queue = stack.unique_queue()
        env = {**stack.worker_env(queue, mock.base_url), "RESPQ_REDIS_URL": url}
        procs = [
            subprocess.Popen(
                [stack.PYTHON, "-m", "respq.worker"],
                cwd=stack.ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            deadline = time.monotonic() + 60
            while sync.zcard("respq:workers") < workers:  # up and polling
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{policy}: workers did not start")
                time.sleep(0.05)
            batch_id, submit_s = asyncio.run(submit(url, queue, n))
            started = time.perf_counter()  # jobs become visible when submit seals
            meta = f"respq:{{{batch_id}}}:meta"
            deadline = time.monotonic() + 600
            while sync.hget(meta, "status") != b"completed":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{policy}: batch did not finish")
                time.sleep(0.01)
            dispatch_s = time.perf_counter() - started
            aof_bytes = sum(
                f.stat().st_size for f in Path(tmp).glob("appendonlydir/*") if f.is_file()
            )
        finally:
            stack.stop_all(procs)
            sync.close()
            stack.stop_process(server)
    return {
        "policy": policy,
        "submit": n / submit_s,
        "dispatch": n / dispatch_s,
        "aof_mib": aof_bytes / 2**20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    mock = stack.MockApi(latency=0.0)
    runs: dict[str, list[dict[str, Any]]] = {policy: [] for policy in POLICIES}
    try:
        # Interleaved rounds, medians: other load on the machine hits every policy alike.
        for _ in range(args.rounds):
            for policy in POLICIES:
                runs[policy].append(run(policy, args.n, args.workers, mock))
    finally:
        mock.stop()
    rows = [
        {
            "policy": policy,
            **{k: statistics.median(r[k] for r in results) for k in ("submit", "dispatch")},
            "aof_mib": results[-1]["aof_mib"],
        }
        for policy, results in runs.items()
    ]
    base = rows[0]
    print(measure.machine_line())
    print(
        f"{args.n} requests, {args.workers} workers, zero-latency mockapi, private Redis, "
        f"median of {args.rounds} interleaved rounds\n"
    )
    report.print_table(
        ["appendfsync", "submit req/s", "ratio", "dispatch req/s", "ratio", "AOF MiB"],
        [
            [
                row["policy"] if row["policy"] != "off" else "(no AOF)",
                f"{row['submit']:,.0f}",
                f"{row['submit'] / base['submit']:.2f}",
                f"{row['dispatch']:,.0f}",
                f"{row['dispatch'] / base['dispatch']:.2f}",
                f"{row['aof_mib']:.1f}",
            ]
            for row in rows
        ],
    )


if __name__ == "__main__":
    main()

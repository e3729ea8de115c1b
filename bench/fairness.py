"""Fair scheduling: a small batch behind a large backlog vs alone, and the large batch's
throughput with and without the small one.

One worker (RESPQ_WORKER_IN_FLIGHT slots), mockapi answering in ``--latency`` seconds. The large
batch A is submitted first; ``--gap`` seconds later the small batch B. B's time is from its
submit until its last request is recorded.

    .venv/bin/python -m bench.fairness [--big 1500] [--small 5] [--max-jobs 16]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient


async def submit(queue: str, n: int, tag: str, **options: Any) -> tuple[str, float]:
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        batch = await client.submit(
            [{**inputs.body(i), "input": f"{tag} {i}"} for i in range(n)], **options
        )
    return batch.id, time.monotonic()


def scenario(
    mock: stack.MockApi, args: argparse.Namespace, *, big: int, small: int
) -> dict[str, float]:
    """Submit ``big`` then (after the gap) ``small`` requests; the times of each."""
    queue = stack.unique_queue()
    procs = stack.start_workers(1, queue, mock.base_url, worker_in_flight=args.max_jobs)
    try:
        out: dict[str, float] = {}
        if big:
            big_id, big_at = asyncio.run(submit(queue, big, "big"))
        if small:
            if big:
                time.sleep(args.gap)
            small_id, small_at = asyncio.run(submit(queue, small, "small"))
            out["small_s"] = stack.wait_batch(small_id, 600) - small_at
        if big:
            out["big_s"] = stack.wait_batch(big_id, 600) - big_at
            out["big_rps"] = big / out["big_s"]
        return out
    finally:
        stack.stop_all(procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=1500)
    parser.add_argument("--small", type=int, default=5)
    parser.add_argument("--max-jobs", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--gap", type=float, default=1.0)
    args = parser.parse_args()
    stack.flush_db()
    mock = stack.MockApi(latency=args.latency)
    try:
        alone = scenario(mock, args, big=0, small=args.small)
        big_alone = scenario(mock, args, big=args.big, small=0)
        both = scenario(mock, args, big=args.big, small=args.small)
    finally:
        mock.stop()
    print(measure.machine_line())
    report.print_table(
        ["measure", "alone", "with the other batch", "ratio"],
        [
            [
                f"small batch ({args.small} requests): time to done, s",
                alone["small_s"],
                both["small_s"],
                both["small_s"] / alone["small_s"],
            ],
            [
                f"large batch ({args.big} requests): requests/s",
                big_alone["big_rps"],
                both["big_rps"],
                both["big_rps"] / big_alone["big_rps"],
            ],
        ],
        title=(
            f"fairness: 1 worker, {args.max_jobs} slots, {args.latency} s latency, small batch "
            f"submitted {args.gap} s after the large one"
        ),
    )


if __name__ == "__main__":
    main()

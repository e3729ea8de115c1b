"""Shared rate limit: configured vs achieved RPM/TPM, and 429s, for 1 and 4 workers.

mockapi enforces an exact sliding 60 s window (``--rpm R --tpm T``); the workers get the same
limits (RESPQ_RPM / RESPQ_TPM). Every request asks for ``max_output_tokens`` so its token
cost is known on both sides. The batch is larger than the budget admits, so the limiter is
the only brake. Figures come from mockapi's ``/_stats`` after ``--seconds``:
``max_requests_in_window`` / ``max_tokens_in_window`` (the peak of any 60 s window) against
the limits, admitted requests per minute, and 429s.

    .venv/bin/python -m bench.limiter [--seconds 60] [--rpm 1200] [--tpm 60000] [--workers 1 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient

MAX_OUTPUT = 50


async def submit(n: int, queue: str) -> str:
    items = [inputs.body(i, max_output_tokens=MAX_OUTPUT) for i in range(n)]
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        return (await client.submit(items)).id


async def cancel(batch_id: str, queue: str) -> None:
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        await (await client.get(batch_id)).cancel()


def run(workers: int, rpm: int, tpm: int, seconds: float, max_jobs: int) -> dict[str, Any]:
    stack.flush_db()
    mock = stack.MockApi(latency=0.0, rpm=rpm, tpm=tpm)
    queue = stack.unique_queue()
    procs = stack.start_workers(
        workers, queue, mock.base_url, rpm=rpm, tpm=tpm, worker_in_flight=max_jobs
    )
    try:
        # enough for the whole window at the higher of the two limits, plus slack
        per_request = MAX_OUTPUT + 12
        cap = rpm if not tpm else min(rpm or 10**9, tpm // per_request)
        n = int(cap * seconds / 60 * 1.3) + 200
        mock.reset()
        started = time.monotonic()
        batch_id = asyncio.run(submit(n, queue))
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        stats = mock.stats()
        elapsed = time.monotonic() - started
        asyncio.run(cancel(batch_id, queue))
    finally:
        stack.stop_all(procs)
        mock.stop()
        stack.flush_db()
    admitted = stats["requests"] - stats["rate_limited"]
    return {
        "n": n,
        "elapsed": elapsed,
        "admitted": admitted,
        "rate_limited": stats["rate_limited"],
        "max_req": stats["max_requests_in_window"],
        "max_tok": stats["max_tokens_in_window"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.limiter", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rpm", type=int, default=1200)
    parser.add_argument("--tpm", type=int, default=60_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--max-jobs", type=int, default=64)
    args = parser.parse_args(argv)
    print(measure.machine_line())
    rows: list[list[Any]] = []
    for w in args.workers:
        r = run(w, args.rpm, args.tpm, args.seconds, args.max_jobs)
        minutes = r["elapsed"] / 60
        window = min(args.seconds, 60.0) / 60  # budget that fits in the measured time
        req_budget = args.rpm * window if args.rpm else 0
        tok_budget = args.tpm * window if args.tpm else 0
        used = max(
            r["max_req"] / req_budget if req_budget else 0.0,
            r["max_tok"] / tok_budget if tok_budget else 0.0,
        )
        rows.append(
            [
                w,
                args.rpm,
                r["max_req"],
                r["admitted"] / minutes,
                args.tpm,
                r["max_tok"],
                used,
                max(0, r["max_req"] - args.rpm) if args.rpm else 0,
                max(0, r["max_tok"] - args.tpm) if args.tpm else 0,
                r["rate_limited"],
            ]
        )
    report.print_table(
        [
            "workers",
            "RPM set",
            "max requests in a 60 s window",
            "admitted/min",
            "TPM set",
            "max tokens in a 60 s window",
            "budget used (binding limit)",
            "requests over RPM",
            "tokens over TPM",
            "429s",
        ],
        rows,
        f"Shared limiter over {args.seconds:g} s (mockapi sliding window, same limits in workers,"
        f" max_output_tokens={MAX_OUTPUT})",
    )


if __name__ == "__main__":
    main()

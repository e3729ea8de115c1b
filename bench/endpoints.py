"""Every endpoint against the Responses baseline, in one run.

1. Dispatch at zero upstream latency: a 20,000-request batch of each endpoint through one
   worker (RESPQ_WORKER_IN_FLIGHT 256) against mockapi in its own process, in ``--rounds``
   interleaved rounds (every other one in reverse order); each round's rate is divided by
   that round's Responses rate, and the median of the rounds is reported (the machine is
   shared: single runs drift), beside the CPU each request cost the worker, mockapi and
   Redis together, and each of the three apart.
   Embeddings answer 1,536-float vectors, as text-embedding-3-small does.
2. Redis bytes per finished request of each endpoint (``used_memory`` after the batch
   ended, over its size), and the stored output line against its JSON.
3. At 0.5 s latency: respq (1 worker, 256 in flight) against the ``AsyncOpenAI`` +
   ``asyncio.Semaphore(256)`` loop most people write, for ``responses.create`` and for
   ``chat.completions.create``, on the same mockapi.

    .venv/bin/python -m bench.endpoints [--n 20000] [--slow-n 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import openai

from bench import inputs, measure, report, stack
from respq.contract.stored import unpack
from respq.producer.client import BatchClient

ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings")
CONCURRENCY = 256
PROCESSES = ("worker", "mockapi", "Redis")


def request_body(url: str, i: int) -> dict[str, Any]:
    text = f"Write a one-line caption for item {i}."
    if url == "/v1/chat/completions":
        return {"model": "gpt-5.4", "messages": [{"role": "user", "content": text}]}
    if url == "/v1/embeddings":
        return {"model": "text-embedding-3-small", "input": text}
    if url == "/v1/moderations":
        return {"input": text}
    if url == "/v1/completions":
        return {"model": "gpt-3.5-turbo-instruct", "prompt": text}
    return inputs.body(i)


def lines(url: str, n: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"r{i}", "url": url, "body": request_body(url, i)} for i in range(n)]


async def submit(items: list[dict[str, Any]], queue: str) -> str:
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        return (await client.submit(items)).id


def run_batch(mock: stack.MockApi, url: str, n: int) -> dict[str, float]:
    """One worker, one batch of ``url``: dispatch seconds and Redis bytes per request."""
    stack.flush_db()
    queue = stack.unique_queue()
    items = lines(url, n)
    procs = stack.start_workers(1, queue, mock.base_url, worker_in_flight=CONCURRENCY)
    try:
        mock.reset()
        memory = measure.used_memory()
        batch_id = asyncio.run(submit(items, queue))
        cpu = _cpu(procs[0].pid, mock)
        queued = time.monotonic()
        done = stack.wait_batch(batch_id, 600)
        after = _cpu(procs[0].pid, mock)
        spent = [(end - start) / n * 1e6 for start, end in zip(cpu, after, strict=True)]
        per_request = (measure.used_memory() - memory) / n
        res = stack.sync_redis().hvals(f"respq:{{{batch_id}}}:res")
    finally:
        stack.stop_all(procs)
    stored = sum(len(v) for v in res[:500]) / min(len(res), 500)
    as_json = sum(len(unpack(v)) for v in res[:500]) / min(len(res), 500)
    return {
        "dispatch_s": done - queued,
        "cpu_us": sum(spent),
        **{f"cpu_us {name}": us for name, us in zip(PROCESSES, spent, strict=True)},
        "bytes": per_request,
        "line": stored,
        "json": as_json,
    }


def _cpu(worker: int, mock: stack.MockApi) -> tuple[float, float, float]:
    """CPU seconds of the worker, mockapi and Redis so far (PROCESSES' order): what one
    request costs them does not drift with the machine's other load the way a rate does,
    and apart they say whose CPU an endpoint's answers cost."""
    return (
        measure.cpu_seconds(worker),
        measure.cpu_seconds(mock.proc.pid),
        measure.redis_cpu_seconds(),
    )


async def sdk_loop(base_url: str, url: str, n: int) -> float:
    """The loop people write: ``AsyncOpenAI`` and a semaphore of CONCURRENCY; seconds."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=2)
    limit = asyncio.Semaphore(CONCURRENCY)
    call: Callable[[dict[str, Any]], Any] = (
        (lambda b: client.chat.completions.create(**b))
        if url == "/v1/chat/completions"
        else (lambda b: client.responses.create(**b))
    )

    async def one(i: int) -> None:
        async with limit:
            await call(request_body(url, i))

    started = time.perf_counter()
    async with client:
        await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.endpoints", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-n", type=int, default=4_000, help="requests at 0.5 s latency")
    parser.add_argument("--skip-slow", action="store_true")
    args = parser.parse_args(argv)
    print(measure.machine_line())
    n = args.n
    mock = stack.MockApi(latency=0.0)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        run_batch(mock, "/v1/responses", 2_000)  # warm-up
        for i in range(args.rounds):
            # Every other round in reverse, so no endpoint always runs first or last.
            order = ENDPOINTS if i % 2 == 0 else ENDPOINTS[::-1]
            rounds.append({url: run_batch(mock, url, n) for url in order})
        extra = {url: run_batch(mock, url, 5_000) for url in ("/v1/completions", "/v1/moderations")}
    finally:
        mock.stop()
        stack.flush_db()
    rows = []
    for url in ENDPOINTS:
        rates = [n / r[url]["dispatch_s"] for r in rounds]
        ratios = [n / r[url]["dispatch_s"] / (n / r["/v1/responses"]["dispatch_s"]) for r in rounds]
        cpu = statistics.median(r[url]["cpu_us"] for r in rounds)
        base_cpu = statistics.median(r["/v1/responses"]["cpu_us"] for r in rounds)
        rows.append(
            [
                url,
                n,
                " / ".join(f"{rate:,.0f}" for rate in rates),
                " / ".join(f"{ratio:.2f}" for ratio in ratios),
                statistics.median(ratios),
                cpu,
                base_cpu / cpu,
            ]
        )
    report.print_table(
        [
            "endpoint",
            "requests",
            "requests/s by round",
            "× responses by round",
            "median ×",
            "CPU µs/request (worker+mock+Redis, median)",
            "responses CPU / its CPU",
        ],
        rows,
        "Dispatch at zero upstream latency, 1 worker, mockapi in its own process",
    )
    report.print_table(
        ["endpoint", *(f"{name} µs/request" for name in PROCESSES), "all three"],
        [
            [
                url,
                *(
                    statistics.median(r[url][f"cpu_us {name}"] for r in rounds)
                    for name in PROCESSES
                ),
                statistics.median(r[url]["cpu_us"] for r in rounds),
            ]
            for url in ENDPOINTS
        ],
        "CPU per request by process (median of the rounds; /proc/<pid>/stat, user + system)",
    )
    last = rounds[-1]
    report.print_table(
        ["endpoint", "Redis B/finished request", "stored line B", "its JSON B", "stored / JSON"],
        [
            [url, r["bytes"], r["line"], r["json"], r["line"] / r["json"]]
            for url, r in [*last.items(), *extra.items()]
        ],
        "Redis memory per finished request (used_memory after the batch, over its size)",
    )
    if args.skip_slow:
        return
    slow = stack.MockApi(latency=0.5)
    rows = []
    try:
        for url in ("/v1/responses", "/v1/chat/completions"):
            r = run_batch(slow, url, args.slow_n)
            loop_s = asyncio.run(sdk_loop(slow.base_url, url, args.slow_n))
            rate, loop_rate = args.slow_n / r["dispatch_s"], args.slow_n / loop_s
            rows.append([url, args.slow_n, rate, loop_rate, rate / loop_rate, CONCURRENCY / 0.5])
    finally:
        slow.stop()
        stack.flush_db()
    report.print_table(
        ["endpoint", "requests", "respq req/s", "AsyncOpenAI + semaphore req/s", "ratio", "bound"],
        rows,
        f"At 0.5 s latency, {CONCURRENCY} in flight: respq (1 worker) vs the SDK loop",
    )


if __name__ == "__main__":
    main()

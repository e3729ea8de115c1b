"""End to end: ``respq submit FILE`` → workers → ``respq results``, one batch of N.

Each stage runs as its own process(es) against the private Redis and a mockapi upstream
at zero latency. Reported per stage: seconds, requests/s, the peak RSS of every process
(from ``wait4`` for the CLI, ``VmHWM`` for workers and mockapi) and Redis ``used_memory``
per request once the stage is over (queued, finished). Then where the finished batch's
bytes are (``MEMORY USAGE`` per key), and the stored output lines' size against their JSON
(successes are kept zstd-packed: contract/stored.py).

    .venv/bin/python -m bench.e2e [--n 1000000] [--workers 2] [--prompt-bytes 0]
"""

from __future__ import annotations

import argparse
import os
import random
import string
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench import measure, report, stack
from respq.contract.constants import BatchKeys
from respq.contract.stored import unpack

RESPQ = str(Path(stack.PYTHON).with_name("respq"))


# Padding words: random letters, so that an echoed prompt compresses like text rather
# than like one repeated character (which would flatter the packed output lines).
_RANDOM = random.Random(17)
WORDS = [
    "".join(_RANDOM.choices(string.ascii_lowercase, k=_RANDOM.randint(2, 9))) for _ in range(2000)
]


def padding(i: int, size: int) -> str:
    words: list[str] = []
    chosen = random.Random(i)
    while sum(len(w) + 1 for w in words) < size:
        words.append(chosen.choice(WORDS))
    return (" " + " ".join(words))[:size] if size > 0 else ""


def write_batch(path: Path, n: int, prompt_bytes: int) -> None:
    with path.open("wb") as handle:
        for start in range(0, n, 10_000):
            handle.write(
                b"".join(
                    orjson.dumps(
                        {
                            "custom_id": f"req-{i}",
                            "method": "POST",
                            "url": "/v1/responses",
                            "body": {
                                "model": "gpt-5.4",
                                "input": f"Write a one-line caption for item {i}."
                                + padding(i, prompt_bytes - 40),
                            },
                        }
                    )
                    + b"\n"
                    for i in range(start, min(n, start + 10_000))
                )
            )


def run_cli(args: Sequence[str], env: dict[str, str]) -> tuple[float, int, bytes]:
    """Run ``respq ARGS``; (seconds, peak RSS KiB, stdout). The peak is the child's own
    VmHWM, sampled while it runs: ``wait4``'s ru_maxrss would also count this process's
    memory, which a forked child carries until its exec."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [RESPQ, "--redis-url", stack.REDIS_URL, *args],
            cwd=stack.ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, peak_kib(proc.pid))
            except OSError:  # it exited between the poll and the read
                break
            time.sleep(0.01)
        proc.wait()
        elapsed = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"respq {args[0]} failed: {stderr.decode()[-2000:]}")
    return elapsed, peak, stdout


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def key_bytes(batch_id: str) -> dict[str, int]:
    r = stack.sync_redis()
    keys = BatchKeys(batch_id)
    sizes = {}
    for name in ("meta", "req", "order", "res", "owner", "inflight", "children", "prev"):
        size = r.memory_usage(getattr(keys, name), samples=0)
        if size:
            sizes[name] = int(size)
    return sizes


def stored_lines(batch_id: str, sample: int = 2_000) -> dict[str, float]:
    """Average bytes of ``sample`` stored output lines: as stored (successes packed:
    contract/stored.py) and as the JSON a reader gets back."""
    r = stack.sync_redis()
    res = BatchKeys(batch_id).res
    stored: list[bytes] = []
    for _, value in r.hscan_iter(res, count=1000):
        stored.append(value)
        if len(stored) >= sample:
            break
    count = max(1, len(stored))
    return {
        "lines": len(stored),
        "stored": sum(len(v) for v in stored) / count,
        "json": sum(len(unpack(v)) for v in stored) / count,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.e2e", description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-jobs", type=int, default=256)
    parser.add_argument("--prompt-bytes", type=int, default=0, help="pad each input to this")
    parser.add_argument("--timeout", type=float, default=7200)
    args = parser.parse_args(argv)
    n = args.n
    print(measure.machine_line())
    stack.flush_db()
    queue = stack.unique_queue()
    env = {**os.environ, "RESPQ_QUEUE_NAME": queue, "RESPQ_REDIS_URL": stack.REDIS_URL}
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="respq-e2e-") as tmp:
        path = Path(tmp) / "batch.jsonl"
        write_batch(path, n, args.prompt_bytes)
        mb = path.stat().st_size / 1e6
        print(f"{n:,} requests, {mb:,.0f} MB input ({path.stat().st_size / n:.0f} B/line)")
        mem0 = measure.used_memory()
        submit_s, submit_rss, out = run_cli(["submit", str(path)], env)
        batch_id = out.decode().strip().splitlines()[-1]
        queued = (measure.used_memory() - mem0) / n
        rows.append(["submit (respq submit FILE)", submit_s, n / submit_s, submit_rss, queued])

        mock = stack.MockApi(latency=0.0)
        try:
            t0 = time.monotonic()
            procs = stack.start_workers(
                args.workers, queue, mock.base_url, worker_in_flight=args.max_jobs
            )
            try:
                t1 = stack.wait_batch(batch_id, args.timeout, interval=0.2)
                worker_peaks = [peak_kib(p.pid) for p in procs]
                mock_peak = peak_kib(mock.proc.pid)
            finally:
                stack.stop_all(procs)
        finally:
            mock.stop()
        total, completed, failed = stack.batch_counts(batch_id)
        finished = (measure.used_memory() - mem0) / n
        rss = " / ".join(f"{kib / 1024:,.0f}" for kib in worker_peaks)
        rows.append(
            [
                f"dispatch ({args.workers} workers, mockapi peak {mock_peak / 1024:,.0f} MiB)",
                t1 - t0,
                n / (t1 - t0),
                rss,
                finished,
            ]
        )
        out_path, err_path = Path(tmp) / "out.jsonl", Path(tmp) / "err.jsonl"
        results_s, results_rss, _ = run_cli(
            ["results", batch_id, "-o", str(out_path), "--errors", str(err_path)], env
        )
        with out_path.open("rb") as handle:
            written = sum(1 for _ in handle)
        rows.append(
            [
                f"results (respq results -o, {written:,} lines)",
                results_s,
                n / results_s,
                results_rss,
                (measure.used_memory() - mem0) / n,
            ]
        )
        sizes = key_bytes(batch_id)
        lines = stored_lines(batch_id)
    stack.flush_db()
    report.print_table(
        [
            "stage",
            "seconds",
            "requests/s",
            "peak RSS MiB",
            "Redis used_memory B/request after",
        ],
        [
            [label, s, rate, rss if isinstance(rss, str) else f"{rss / 1024:,.0f}", mem]
            for label, s, rate, rss, mem in rows
        ],
        f"End to end, {n:,} requests (prompts padded to {args.prompt_bytes} B)"
        if args.prompt_bytes
        else f"End to end, {n:,} requests (short prompts)",
    )
    print(f"\ncompleted {completed:,}, failed {failed:,} of {total:,}")
    report.print_table(
        ["key of the finished batch", "bytes", "bytes/request"],
        [[name, size, size / n] for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])],
        "Where a finished batch's bytes are (MEMORY USAGE)",
    )
    print(
        f"\nstored output line: {lines['stored']:.0f} B on average, "
        f"{lines['json']:.0f} B as JSON ({lines['stored'] / lines['json']:.2f}) — "
        f"{lines['lines']:,} lines sampled"
    )


if __name__ == "__main__":
    main()

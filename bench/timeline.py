"""What writing a batch's timeline costs Redis: commands per request before and after.

The same batch runs through one worker from the commit before the timeline (``--before``;
by default the parent of the commit that first added ``contract/lua/timeline_lib.lua``,
found under its first name by ``git log --follow``, unpacked
with ``git archive`` into a temporary folder) and through one worker from this tree,
alternating, in this process's private Redis. A ``MONITOR`` connection counts every
command while the worker runs: the ones a client sent (each a request to Redis, pipelined
or not) and the ones Lua scripts ran inside a script call (``[db lua]`` lines). The
timeline must add only the latter: a few commands inside the write-back script per call,
no command a worker sends.

Two settings: zero upstream latency with 256 requests in flight (large write-back groups)
and 100 ms latency with 16 in flight (groups of one or two: the timeline's per-call cost is
then nearly per request).

    .venv/bin/python -m bench.timeline [--n 3000] [--rounds 2] [--before REV]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench import inputs, measure, report, stack
from respq.producer.client import BatchClient

TIMELINE_FILE = "contract/lua/timeline_lib.lua"
SETTINGS = (("zero latency, 256 in flight", 0.0, 256), ("100 ms latency, 16 in flight", 0.1, 16))


class Monitor:
    """Counts the commands Redis runs (``MONITOR``), by name, top-level and inside Lua,
    leaving out those of the connection at ``ignore`` (host:port; this process's own)."""

    def __init__(self, ignore: str) -> None:
        self.ignore = f"{ignore}".encode()
        self.top: collections.Counter[str] = collections.Counter()
        self.lua: collections.Counter[str] = collections.Counter()
        self.scripts: collections.Counter[str] = collections.Counter()  # evalsha by SHA1
        self._sock = socket.create_connection((stack.REDIS_HOST, stack.REDIS_PORT))
        self._sock.sendall(b"MONITOR\r\n")
        self._file = self._sock.makefile("rb")
        if self._file.readline().strip() != b"+OK":
            raise RuntimeError("MONITOR refused")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._file:
            # +1700000000.123456 [7 127.0.0.1:5555] "evalsha" ...   or   [7 lua] "hset" ...
            head, _, rest = line.partition(b"] ")
            if not rest or head.endswith(self.ignore):
                continue
            parts = rest.split(b'"', 4)
            name = parts[1].decode().lower()
            inside = head.endswith(b" lua")
            (self.lua if inside else self.top)[name] += 1
            if name == "evalsha" and not inside and len(parts) > 3:
                self.scripts[parts[3].decode()] += 1

    def stop(self) -> None:
        time.sleep(0.5)  # the last lines are still on their way
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(10)


def before_rev() -> str:
    added = subprocess.run(
        ["git", "log", "--follow", "--diff-filter=A", "--format=%H", "--", TIMELINE_FILE],
        cwd=stack.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not added:
        raise SystemExit(f"bench.timeline: no commit adds {TIMELINE_FILE}; pass --before REV")
    return added[-1] + "^"


def unpack(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=stack.ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def submit(n: int, queue: str) -> str:
    async with BatchClient.from_url(stack.REDIS_URL, queue_name=queue) as client:
        return (await client.submit([inputs.body(i) for i in range(n)])).id


def wait_done(watcher: redis.Redis, batch_id: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    meta = f"respq:{{{batch_id}}}:meta"
    while True:
        total, completed, failed = (
            int(v or 0) for v in watcher.hmget(meta, "total", "completed", "failed")
        )
        if total and completed + failed >= total:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{batch_id}: {completed + failed}/{total} after {timeout}s")
        time.sleep(0.2)


def run_once(tree: Path | None, n: int, latency: float, max_jobs: int) -> dict[str, Any]:
    """One batch of n through one worker from ``tree`` (None: this checkout)."""
    stack.flush_db()
    mock = stack.MockApi(latency=latency)
    queue = stack.unique_queue()
    batch_id = asyncio.run(submit(n, queue))  # before the worker: submit is not counted
    # One connection of this process, whose commands the monitor leaves out.
    watcher = redis.Redis(
        host=stack.REDIS_HOST,
        port=stack.REDIS_PORT,
        db=stack.REDIS_DB,
        single_connection_client=True,
    )
    watcher.ping()
    host, port = watcher.connection._sock.getsockname()[:2]  # type: ignore[union-attr]
    monitor = Monitor(f"{host}:{port}")
    wrap: list[str] = []
    if tree is not None:
        # the worker imports respq from the unpacked tree, not from this checkout
        wrap = ["env", "--chdir", str(tree), f"PYTHONPATH={tree}"]
    started = time.monotonic()
    # RESPQ_MAX_JOBS, the old name of RESPQ_WORKER_IN_FLIGHT: the tree from before the
    # timeline reads only that one (this tree reads it too, and logs that it is deprecated).
    (proc,) = stack.start_workers(1, queue, mock.base_url, wrap=wrap, max_jobs=max_jobs)
    try:
        wait_done(watcher, batch_id)
        seconds = time.monotonic() - started
    finally:
        stack.stop_all([proc])
        monitor.stop()
        mock.stop()
        watcher.close()
    timeline = stack.sync_redis().hlen(f"respq:{{{batch_id}}}:timeline")
    stack.flush_db()
    return {
        "top": monitor.top,
        "lua": monitor.lua,
        "scripts": monitor.scripts,
        "seconds": seconds,
        "timeline": timeline,
    }


# Run inside the tree compared with: bench/script_names.py where it has one, else the
# loader of the trees before it, whose batch scripts were split over three lua/ folders.
SCRIPT_NAMES = """
import hashlib, pathlib, runpy, sys
root = pathlib.Path(sys.argv[1])
if (root / "bench" / "script_names.py").exists():
    runpy.run_module("bench.script_names", run_name="__main__")
    sys.exit()
from respq.contract.scripts import lua_source
from respq.worker.limiter import LIMITER_SCRIPTS, limiter_source
for package in ("contract", "producer", "worker"):
    for path in sorted((root / package / "lua").glob("*.lua")):
        if path.name.startswith("_") or path.stem in (*LIMITER_SCRIPTS, "limiter_lib"):
            continue
        if path.stem.endswith("_lib"):
            continue
        text = lua_source(package, path.name)
        print(hashlib.sha1(text.encode()).hexdigest(), path.stem)
for name in LIMITER_SCRIPTS:
    print(hashlib.sha1(limiter_source(name).encode()).hexdigest(), "limiter " + name)
"""


def script_names(tree: Path) -> dict[str, str]:
    """SHA1 -> script name, as the scripts of ``tree`` are loaded."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT_NAMES, str(tree)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def per_request(counter: collections.Counter[str], n: int, *names: str) -> float:
    return sum(counter[name] for name in names) / n if names else sum(counter.values()) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.timeline", description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", help="the commit to compare with (default: see above)")
    args = parser.parse_args(argv)
    rev = args.before or before_rev()
    print(measure.machine_line())
    with tempfile.TemporaryDirectory(prefix="respq-bench-before-") as folder:
        before = unpack(rev, Path(folder))
        print(f"before: {rev} unpacked into {before}; after: {stack.ROOT}")
        names = {**script_names(before), **script_names(stack.ROOT)}
        for label, latency, max_jobs in SETTINGS:
            runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                runs["before"].append(run_once(before, args.n, latency, max_jobs))
                runs["after"].append(run_once(None, args.n, latency, max_jobs))
            rows = []
            for name, done in runs.items():
                top = sum((r["top"] for r in done), collections.Counter())
                lua = sum((r["lua"] for r in done), collections.Counter())
                total = args.n * len(done)
                rows.append(
                    [
                        name,
                        per_request(top, total),
                        per_request(top, total, "evalsha", "eval"),
                        per_request(lua, total),
                        per_request(lua, total, "hmget", "hget", "hgetall"),
                        sum(r["seconds"] for r in done) / len(done),
                        done[-1]["timeline"],
                    ]
                )
            report.print_table(
                [
                    "worker",
                    "commands sent/request",
                    "of them script calls",
                    "commands inside scripts per request",
                    "HMGET+HGET+HGETALL inside",
                    "seconds/batch",
                    "timeline fields",
                ],
                rows,
                title=f"{label}: {args.n:,} requests, {args.rounds} rounds each, interleaved",
            )
            calls = {
                name: sum(
                    (
                        collections.Counter(
                            {names.get(sha, sha[:10]): n for sha, n in r["scripts"].items()}
                        )
                        for r in done
                    ),
                    collections.Counter(),
                )
                for name, done in runs.items()
            }
            by_count(
                calls, f"{label}: script calls (EVALSHA) by script", total=args.n * args.rounds
            )
            inside = {
                name: sum((r["lua"] for r in done), collections.Counter())
                for name, done in runs.items()
            }
            by_count(
                inside, f"{label}: commands run inside scripts, by name", total=args.n * args.rounds
            )
            sent = {
                name: sum((r["top"] for r in done), collections.Counter())
                for name, done in runs.items()
            }
            by_count(
                sent, f"{label}: commands the worker sent, by name", total=args.n * args.rounds
            )


def by_count(counts: dict[str, collections.Counter[str]], title: str, *, total: int) -> None:
    """A before/after table per name, per request, largest first (at most 12 rows)."""
    before, after = counts["before"], counts["after"]
    keys = sorted(set(before) | set(after), key=lambda k: -(before[k] + after[k]))[:12]
    report.print_table(
        ["name", "before/request", "after/request"],
        [[k, before[k] / total, after[k] / total] for k in keys],
        title=title,
    )


if __name__ == "__main__":
    main()

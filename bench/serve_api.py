"""One ``respq serve`` process for the benchmarks, on the private Redis with one API key, and
the Files and Batches calls they time on it; its peak RSS sampled in a thread."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import measure, stack

KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class PeakRss:
    """Samples a process's VmRSS in a thread; ``peak()`` since the last ``reset()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self._peak = max(self._peak, measure.rss_kb(self.pid))
            except FileNotFoundError:  # the server has exited
                return

    def reset(self) -> int:
        self._peak = measure.rss_kb(self.pid)
        return self._peak

    def peak(self) -> int:
        return max(self._peak, measure.rss_kb(self.pid))

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def server(tmp: Path) -> Iterator[tuple[str, Any]]:
    port = stack.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPQ_")}
    env.update(
        RESPQ_REDIS_URL=stack.REDIS_URL,
        RESPQ_QUEUE_NAME=stack.unique_queue(),
        RESPQ_FILES_DIR=str(tmp / "files"),
        # an admin key: the output-file batch is written into Redis without a tenant,
        # like a batch of respq submit, and only admin keys see those
        RESPQ_SERVER_ADMIN_KEYS=KEY,
    )
    cmd = [
        stack.PYTHON,
        "-m",
        "respq.producer.cli",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=stack.ROOT, stdout=subprocess.DEVNULL)
    try:
        root = f"http://127.0.0.1:{port}"
        stack.wait_http(root + "/healthz")
        yield root, proc
    finally:
        stack.stop_process(proc)


def wait_status(http: httpx.Client, batch_id: str, wanted: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(f"/v1/batches/{batch_id}").json()
        if "status" not in answer:
            raise RuntimeError(f"{batch_id}: {answer}")
        status = str(answer["status"])
        if status in wanted:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{batch_id} still {status}")
        time.sleep(0.02)


def upload(http: httpx.Client, path: Path) -> tuple[str, float]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        answer = http.post(
            "/v1/files",
            files={"file": (path.name, handle, "application/jsonl")},
            data={"purpose": "batch"},
        )
    answer.raise_for_status()
    return str(answer.json()["id"]), time.perf_counter() - started


def create(http: httpx.Client, file_id: str) -> str:
    body = {"input_file_id": file_id, "endpoint": "/v1/responses", "completion_window": "24h"}
    answer = http.post("/v1/batches", json=body)
    answer.raise_for_status()
    return str(answer.json()["id"])


def download(http: httpx.Client, url: str) -> tuple[float, float, int]:
    """(time to first byte, total time, bytes)."""
    started = time.perf_counter()
    first = 0.0
    size = 0
    with http.stream("GET", url) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_raw():
            if not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, time.perf_counter() - started, size

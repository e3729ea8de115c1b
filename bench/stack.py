"""What every benchmark runs against: a private Redis server, mockapi and worker processes,
started and waited for (the measurements are ``bench.measure``'s, the tables
``bench.report``'s, the requests ``bench.inputs``').

Every benchmark runs against a private ``redis-server`` that this module starts on a free
port in a temporary directory (no persistence, like the shared server's ``appendonly no``)
and stops at exit, so a benchmark never touches anyone's Redis and that server's CPU time
is the benchmark's alone. Child processes that import this module reuse the same server
(``RESPQ_BENCH_REDIS_PORT``). DB 7 is flushed before and after, queue names are unique,
and all traffic is loopback. mockapi and workers always run as separate processes.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REDIS_HOST = "127.0.0.1"
REDIS_DB = 7
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/respq-bench"))
PORT_ENV = "RESPQ_BENCH_REDIS_PORT"
PID_ENV = "RESPQ_BENCH_REDIS_PID"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_private_redis() -> tuple[int, int]:
    """Start ``redis-server`` on a free port in a temp dir; returns (port, pid). It is
    stopped (and its directory removed) when this process exits."""
    folder = tempfile.mkdtemp(prefix="respq-bench-redis-")
    port = free_port()
    args = ["redis-server", "--bind", REDIS_HOST, "--port", str(port), "--dir", folder]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    args += ["--logfile", str(Path(folder) / "redis.log")]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    client = redis.Redis(host=REDIS_HOST, port=port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.ping():
                break
        except redis.RedisError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private redis-server did not start (see {folder})") from None
            time.sleep(0.02)
    client.close()
    os.environ[PORT_ENV] = str(port)
    os.environ[PID_ENV] = str(proc.pid)
    return port, proc.pid


def _private_redis() -> tuple[int, int]:
    inherited = os.environ.get(PORT_ENV)
    if inherited:
        return int(inherited), int(os.environ.get(PID_ENV) or 0)
    return _start_private_redis()


REDIS_PORT, REDIS_PID = _private_redis()
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


def unique_queue() -> str:
    return f"bench:{uuid.uuid4().hex[:10]}:queue"


def sync_redis() -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


def flush_db() -> None:
    """Empty DB 7 of the private server."""
    sync_redis().flushdb()


def _log_file(name: str) -> Any:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return (LOG_DIR / f"{name}.log").open("ab")


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up in {timeout}s")
        time.sleep(0.05)


class MockApi:
    """``python -m respq.mockapi`` on a free port, as a separate process."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rpm: int = 0,
        tpm: int = 0,
        extra: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        args = [PYTHON, "-m", "respq.mockapi", "--port", str(self.port), "--latency", str(latency)]
        if rpm:
            args += ["--rpm", str(rpm)]
        if tpm:
            args += ["--tpm", str(tpm)]
        args += ["--store", "false", *extra]
        env = {**os.environ, "MOCKAPI_LOG_LEVEL": "warning"}
        # /_stats and /_reset need the mock's key when it has one.
        key = next((b for a, b in itertools.pairwise(extra) if a == "--api-key"), None)
        key = key or env.get("MOCKAPI_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=_log_file("mockapi")
        )
        wait_http(self.url + "/health")

    def stats(self) -> dict[str, Any]:
        answer = httpx.get(self.url + "/_stats", headers=self.headers, timeout=30)
        data: dict[str, Any] = orjson.loads(answer.content)
        data.pop("request_log", None)
        return data

    def reset(self) -> None:
        httpx.post(self.url + "/_reset", headers=self.headers, timeout=10)

    def stop(self) -> None:
        stop_process(self.proc)


def worker_env(queue: str, base_url: str, **settings: Any) -> dict[str, str]:
    env = {
        **os.environ,
        "RESPQ_REDIS_URL": REDIS_URL,
        "RESPQ_BASE_URL": base_url,
        "RESPQ_API_KEY": "sk-bench",
        "RESPQ_QUEUE_NAME": queue,
        "RESPQ_LOG_LEVEL": "WARNING",
    }
    for key, value in settings.items():
        env[f"RESPQ_{key.upper()}"] = str(value)
    return env


def start_workers(
    n: int, queue: str, base_url: str, *, wrap: Sequence[str] = (), **settings: Any
) -> list[subprocess.Popen[bytes]]:
    """Start ``n`` ``python -m respq.worker`` processes and wait until each has registered."""
    env = worker_env(queue, base_url, **settings)
    r = sync_redis()
    before = r.zcard("respq:workers")
    procs = [
        subprocess.Popen(
            [*wrap, PYTHON, "-m", "respq.worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=_log_file("worker"),
        )
        for _ in range(n)
    ]
    deadline = time.monotonic() + 30
    while r.zcard("respq:workers") < before + n:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start in 30s (see /tmp/respq-bench/worker.log)")
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"worker exited with {p.returncode}")
        time.sleep(0.05)
    time.sleep(0.2)  # let arq enter its poll loop
    return procs


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        stop_process(p)


def batch_counts(batch_id: str) -> tuple[int, int, int]:
    """(total, completed, failed) from the batch's meta hash."""
    raw = sync_redis().hmget(f"respq:{{{batch_id}}}:meta", "total", "completed", "failed")
    total, completed, failed = (int(v or 0) for v in raw)
    return total, completed, failed


def wait_batch(batch_id: str, timeout: float, interval: float = 0.05) -> float:
    """Block until every request of the batch ended; returns the monotonic end time."""
    deadline = time.monotonic() + timeout
    while True:
        total, completed, failed = batch_counts(batch_id)
        if total and completed + failed >= total:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{batch_id}: {completed + failed}/{total} after {timeout}s")
        time.sleep(interval)

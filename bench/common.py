"""Shared helpers for the respq benchmarks: ports, subprocesses, Redis INFO, tables.

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


def redis_info(section: str) -> dict[str, Any]:
    info: dict[str, Any] = sync_redis().info(section)
    return info


def used_memory() -> int:
    return int(redis_info("memory")["used_memory"])


def commands_processed() -> int:
    return int(redis_info("stats")["total_commands_processed"])


def command_calls() -> dict[str, int]:
    """Calls per command (INFO commandstats), e.g. {"evalsha": 1234, "zadd": 10}."""
    stats = redis_info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def command_usec() -> dict[str, tuple[int, int]]:
    """(calls, microseconds) per command from INFO commandstats; a script's time counts
    under EVALSHA and again under each command it runs."""
    stats = redis_info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


def calls_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


def redis_version() -> str:
    return str(redis_info("server")["redis_version"])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine_line() -> str:
    return (
        f"machine: {os.cpu_count()} cores, {cpu_model()}, Redis {redis_version()}, "
        f"Python {sys.version.split()[0]}"
    )


def body(i: int, *, max_output_tokens: int | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"model": "gpt-5.4", "input": f"Write a one-line caption for item {i}."}
    if max_output_tokens is not None:
        b["max_output_tokens"] = max_output_tokens
    return b


def batch_line(i: int, *, max_output_tokens: int | None = None) -> dict[str, Any]:
    return {
        "custom_id": f"req-{i}",
        "method": "POST",
        "url": "/v1/responses",
        "body": body(i, max_output_tokens=max_output_tokens),
    }


def write_jsonl(path: Path, n: int) -> None:
    with path.open("wb") as handle:
        for start in range(0, n, 10_000):
            handle.write(
                b"".join(
                    orjson.dumps(batch_line(i)) + b"\n"
                    for i in range(start, min(n, start + 10_000))
                )
            )


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


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


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


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A Markdown table (pastes straight into RESULTS.md)."""
    if title:
        print(f"\n### {title}\n")
    cells = [[fmt(c) for c in row] for row in rows]
    left = [[isinstance(c, str) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row, lefts in zip(cells, left, strict=True):
        padded = [
            c.ljust(w) if is_text else c.rjust(w)
            for c, w, is_text in zip(row, widths, lefts, strict=True)
        ]
        print("| " + " | ".join(padded) + " |")
    sys.stdout.flush()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def redis_cpu_seconds() -> float:
    """CPU time the private Redis server has used so far (all its threads)."""
    return cpu_seconds(REDIS_PID)


def script_names() -> dict[str, str]:
    """SHA1 -> name of every respq Lua script (as loaded: _common.lua prepended)."""
    import hashlib

    from respq.contract.scripts import lua_source

    names = {}
    from respq.worker.limiter import LIMITER_SCRIPTS, limiter_source

    for package in ("contract", "producer", "worker"):
        for path in sorted((ROOT / package / "lua").glob("*.lua")):
            if path.name.startswith("_") or path.stem in (*LIMITER_SCRIPTS, "limiter_lib"):
                continue
            text = lua_source(package, path.name)
            names[hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()] = path.stem
    for name in LIMITER_SCRIPTS:
        text = limiter_source(name)
        names[hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()] = f"limiter {name}"
    return names


def slowlog_start(max_len: int = 200_000) -> None:
    """Log every command with its duration (SLOWLOG), from now on."""
    r = sync_redis()
    r.config_set("slowlog-max-len", max_len)
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()


def slowlog_by_command(requests: int) -> list[tuple[str, float, float]]:
    """(command or script name, calls/request, µs/request) since slowlog_start, most
    time first; EVALSHA is split by script. Stops logging."""
    r = sync_redis()
    entries = r.slowlog_get(r.slowlog_len())
    r.config_set("slowlog-log-slower-than", 10_000)
    names = script_names()
    calls: dict[str, int] = {}
    usec: dict[str, int] = {}
    for entry in entries:
        parts = entry["command"].split()
        name = parts[0].decode().lower() if parts else "?"
        if name in ("evalsha", "eval") and len(parts) > 1:
            name = "script " + names.get(parts[1].decode(), parts[1].decode()[:8])
        calls[name] = calls.get(name, 0) + 1
        usec[name] = usec.get(name, 0) + int(entry["duration"])
    return sorted(
        ((name, calls[name] / requests, usec[name] / requests) for name in calls),
        key=lambda row: -row[2],
    )

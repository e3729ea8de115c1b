"""Worker and mockapi subprocesses for reliability tests: start with readiness polling,
stop by signal, always killed in ``finally`` (use them as context managers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import redis

from contract.constants import WORKERS_KEY

from helpers.paths import ROOT


def poll(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Call ``check`` until it is true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


class Managed:
    """One subprocess with stdout+stderr captured to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(10)
        finally:
            self._log.close()

    def __enter__(self) -> Managed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPQ_", "MOCKAPI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_worker(
    log_path: Path,
    *,
    redis_url: str,
    queue_name: str,
    base_url: str,
    ready_timeout: float = 20.0,
    ready_client: redis.Redis | None = None,
    **settings: Any,
) -> Managed:
    """``python -m worker`` with RESPQ_* from the arguments (``lease_seconds=6`` →
    RESPQ_LEASE_SECONDS=6); returns once it advertises itself in Redis."""
    extra = {
        "RESPQ_REDIS_URL": redis_url,
        "RESPQ_QUEUE_NAME": queue_name,
        "RESPQ_BASE_URL": base_url,
    }
    extra.update({f"RESPQ_{k.upper()}": str(v) for k, v in settings.items()})
    proc = Managed([sys.executable, "-m", "worker"], _env(extra), log_path)
    client = ready_client or redis.Redis.from_url(redis_url)
    suffix = f":{proc.pid}".encode()
    try:

        def advertised() -> bool:
            if not proc.alive():
                raise AssertionError(f"worker exited early:\n{proc.output()[-3000:]}")
            return any(m.endswith(suffix) for m in client.zrange(WORKERS_KEY, 0, -1))

        poll(advertised, ready_timeout, "worker start-up")
    except BaseException:
        proc.kill()
        raise
    finally:
        if ready_client is None:
            client.close()
    return proc


def start_mockapi(
    log_path: Path, *flags: str, ready_timeout: float = 20.0, port: int | None = None
) -> tuple[Managed, str]:
    """``python -m mockapi --port <port, else a free one> <flags>``; returns (process,
    base_url)."""
    from helpers.redis_servers import free_port

    port = port or free_port()
    proc = Managed(
        [sys.executable, "-m", "mockapi", "--port", str(port), *flags], _env({}), log_path
    )
    root = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise AssertionError(f"mockapi exited early:\n{proc.output()[-3000:]}")
        try:
            return httpx.get(root + "/health", timeout=1).status_code == 200  # needs no key
        except httpx.HTTPError:
            return False

    try:
        poll(up, ready_timeout, "mockapi start-up")
    except BaseException:
        proc.kill()
        raise
    return proc, root + "/v1"


def mock_stats(base_url: str, api_key: str | None = None) -> dict[str, Any]:
    """mockapi's ``GET /_stats`` (which needs the key when the mock has one)."""
    root = base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    data: dict[str, Any] = httpx.get(root + "/_stats", headers=headers, timeout=10).json()
    return data


# The real Redis DB the reliability tests own (flushed by them; never DB 0).
RELIABILITY_DB_URL = os.environ.get("RESPQ_TEST_REDIS_URL", "redis://127.0.0.1:6379") + "/5"


def flush_reliability_db() -> None:
    with redis.Redis.from_url(RELIABILITY_DB_URL) as client:
        client.flushdb()

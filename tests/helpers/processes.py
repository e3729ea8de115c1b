"""Subprocesses for integration and reliability tests: ``python -m respq.worker`` and
``python -m respq.mockapi``, started with readiness polling, stopped by signal, always killed on
the way out (use them as context managers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import httpx
import redis

from respq.contract.constants import WORKERS_KEY

from helpers.databases import Database
from helpers.paths import ROOT
from helpers.polling import wait_until
from helpers.ports import free_port


def clean_env(**extra: str) -> dict[str, str]:
    """This process' environment without any RESPQ_* or MOCKAPI_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPQ_", "MOCKAPI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def subprocess_env(db: Database | None, queue: str, **extra: str) -> dict[str, str]:
    """A clean environment pointing respq at ``db`` (none: no RESPQ_REDIS_URL) and ``queue``."""
    url = {"RESPQ_REDIS_URL": db.url} if db is not None else {}
    return clean_env(**url, RESPQ_QUEUE_NAME=queue, **extra)


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    proc.kill()  # does nothing once it has exited
    proc.wait(5)


class KilledOnExit:
    """A context manager that kills what it runs on the way out, whatever happened."""

    def kill(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


class Managed(KilledOnExit):
    """One subprocess with stdout+stderr captured to a file."""

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
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

    def stop(self, timeout: float) -> None:
        """SIGTERM, SIGKILL after ``timeout`` seconds."""
        try:
            stop_process(self.proc, timeout)
        finally:
            self._log.close()

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until it holds; fail early with the output if the process exits,
        and kill it if it never gets ready."""

        def check() -> bool:
            if not self.alive():
                raise AssertionError(f"{what}: the process exited")
            return ready()

        try:
            wait_until(check, timeout, what, interval=0.05)
        except AssertionError as exc:
            output = self.output()[-3000:]
            self.kill()
            raise AssertionError(f"{exc}:\n{output}") from None
        except BaseException:
            self.kill()
            raise


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
    """``python -m respq.worker`` with RESPQ_* from the arguments (``lease_seconds=6`` →
    RESPQ_LEASE_SECONDS=6); returns once it advertises itself in Redis."""
    extra = {
        "RESPQ_REDIS_URL": redis_url,
        "RESPQ_QUEUE_NAME": queue_name,
        "RESPQ_BASE_URL": base_url,
    }
    extra.update({f"RESPQ_{k.upper()}": str(v) for k, v in settings.items()})
    proc = Managed([sys.executable, "-m", "respq.worker"], clean_env(**extra), log_path)
    client = ready_client or redis.Redis.from_url(redis_url)
    suffix = f":{proc.pid}".encode()
    try:
        proc.wait_ready(
            lambda: any(m.endswith(suffix) for m in client.zrange(WORKERS_KEY, 0, -1)),
            ready_timeout,
            "worker start-up",
        )
    finally:
        if ready_client is None:
            client.close()
    return proc


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    """``GET url`` answers 200 (False while nothing listens yet)."""
    try:
        return httpx.get(url, headers=headers, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_mockapi(
    log_path: Path, *flags: str, ready_timeout: float = 20.0, port: int | None = None
) -> tuple[Managed, str]:
    """``python -m respq.mockapi --port <port, else a free one> <flags>``; returns (process,
    base_url)."""
    port = port or free_port()
    proc = Managed(
        [sys.executable, "-m", "respq.mockapi", "--port", str(port), *flags], clean_env(), log_path
    )
    root = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(root + "/health"), ready_timeout, "mockapi start-up")
    return proc, root + "/v1"


def mock_stats(base_url: str, api_key: str | None = None) -> dict[str, Any]:
    """mockapi's ``GET /_stats`` (which needs the key when the mock has one)."""
    root = base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    data: dict[str, Any] = httpx.get(root + "/_stats", headers=headers, timeout=10).json()
    return data


@contextmanager
def worker_processes(
    n: int, db: Database, queue: str, base_url: str, **extra: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``n`` ``python -m respq.worker`` processes on ``db``, output discarded; SIGTERM (then
    SIGKILL) on the way out."""
    env = subprocess_env(
        db,
        queue,
        RESPQ_BASE_URL=base_url,
        RESPQ_SHUTDOWN_GRACE="2",
        RESPQ_LOG_LEVEL="WARNING",
        **extra,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "respq.worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()  # all at once; then each gets its 15 s
        for proc in procs:
            stop_process(proc, 15)

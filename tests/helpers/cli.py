"""Shared helpers for the ``respq`` CLI tests: input files, a CliRunner wrapper, Redis
databases, worker processes and in-process burst workers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from typer.testing import CliRunner, Result

from contract.lines import is_success
from producer import BatchClient
from producer.cli import app

from helpers.paths import ROOT

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379

RESPQ = Path(sys.executable).parent / "respq"  # the venv running the tests


def redis_url(db: int, password: str | None = None) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{REDIS_HOST}:{REDIS_PORT}/{db}"


def redis_up() -> bool:
    try:
        return bool(redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def sync_redis(db: int) -> redis.Redis:
    assert db != 0, "never touch DB 0 in tests"
    return redis.Redis(REDIS_HOST, REDIS_PORT, db=db)


def flush(db: int) -> None:
    sync_redis(db).flushdb()


def clean_db(db: int) -> Iterator[int]:
    """Fixture body: a flushed Redis database, flushed again afterwards. CI starts Redis,
    so a missing server is a failure, not a skip."""
    if not redis_up():
        pytest.fail("these tests need Redis on 127.0.0.1:6379 (run scripts/ensure-redis)")
    flush(db)
    yield db
    flush(db)


def unique_queue() -> str:
    return f"respq-cli-test-{uuid.uuid4().hex[:12]}"


def request_line(i: int, *, model: str = "gpt-5.4-mini", cid: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "custom_id": cid or f"req-{i}",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": model, "input": f"Say hello to number {i}", "max_output_tokens": 64},
        }
    )


def write_jsonl(path: Path, n: int, **kwargs: Any) -> Path:
    with path.open("wb") as handle:
        for i in range(n):
            handle.write(request_line(i, **kwargs) + b"\n")
    return path


def env_for(db: int, queue: str, **extra: str) -> dict[str, str]:
    return {"RESPQ_REDIS_URL": redis_url(db), "RESPQ_QUEUE_NAME": queue, **extra}


def invoke(args: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> Result:
    """Run ``respq ARGS`` in-process."""
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False, **kwargs)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def subprocess_env(db: int, queue: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPQ_", "MOCKAPI_"))}
    env.update(env_for(db, queue, **extra))
    return env


@contextmanager
def worker_processes(
    n: int, db: int, queue: str, base_url: str, **extra: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``python -m worker`` processes; SIGTERM (then SIGKILL) on the way out."""
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
            [sys.executable, "-m", "worker"],
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
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def burst_worker(db: int, queue: str, base_url: str, **config: Any) -> None:
    """Run a worker (the class production runs) in this process until its queue and its
    batches' waiting jobs are done."""
    from worker import WorkerConfig, worker_options
    from worker.resilient import ResilientWorker

    cfg = WorkerConfig(
        redis_url=redis_url(db),
        queue_name=queue,
        base_url=base_url,
        log_level="WARNING",
        **config,
    )

    async def go() -> None:
        opts = worker_options(cfg)
        assert opts["redis_settings"].database == db
        w = ResilientWorker(**opts, burst=True, handle_signals=False)
        try:
            await asyncio.wait_for(w.main(), 60)
        finally:
            await w.close()

    asyncio.run(go())


def api_lines(db: int, queue: str, batch_id: str) -> tuple[list[bytes], list[bytes]]:
    """(successes, failures) as the Python API returns them, in input order."""

    async def go() -> list[bytes]:
        async with BatchClient.from_url(redis_url(db), queue_name=queue) as client:
            batch = await client.get(batch_id)
            return [raw async for raw in batch.result_lines()]

    lines = asyncio.run(go())
    ok = [raw for raw in lines if is_success(orjson.loads(raw))]
    bad = [raw for raw in lines if not is_success(orjson.loads(raw))]
    return ok, bad


def file_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]

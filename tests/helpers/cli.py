"""The ``respq`` CLI in tests: in-process through typer's CliRunner (``invoke``,
``submit_wait`` with a worker draining the batch) or as the real console script
(``respq``), and what a batch's results are by the Python API, to compare the CLI's files
with."""

from __future__ import annotations

import asyncio
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner, Result

from respq import BatchClient
from respq.contract.constants import schedule_keys
from respq.contract.lines import is_success
from respq.producer.cli import app

from helpers.databases import Database
from helpers.paths import RESPQ, ROOT
from helpers.polling import wait_until
from helpers.workers import burst_worker


def env_for(db: Database, queue: str, **extra: str) -> dict[str, str]:
    """RESPQ_* settings for an in-process ``invoke`` on ``db`` and ``queue``."""
    return {"RESPQ_REDIS_URL": db.url, "RESPQ_QUEUE_NAME": queue, **extra}


def invoke(args: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> Result:
    """Run ``respq ARGS`` in-process."""
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False, **kwargs)


def respq(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``respq`` console script as a process."""
    command = [str(RESPQ), *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def api_lines(db: Database, queue: str, batch_id: str) -> tuple[list[bytes], list[bytes]]:
    """(successes, failures) as the Python API returns them, in input order."""

    async def go() -> list[bytes]:
        async with BatchClient.from_url(db.url, queue_name=queue) as client:
            batch = await client.get(batch_id)
            return [raw async for raw in batch.result_lines()]

    lines = asyncio.run(go())
    ok = [raw for raw in lines if is_success(orjson.loads(raw))]
    bad = [raw for raw in lines if not is_success(orjson.loads(raw))]
    return ok, bad


def output_lines(data: bytes) -> list[bytes]:
    """The non-empty lines of a JSONL output."""
    return [line for line in data.split(b"\n") if line]


def file_lines(path: Path) -> list[bytes]:
    return output_lines(path.read_bytes())


def submit(path: Path, env: dict[str, str], *extra: str) -> str:
    """``respq submit PATH EXTRA`` in-process, which must succeed; returns the batch id."""
    result = invoke(["submit", str(path), *extra], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def submit_wait(
    path: Path, out: Path, err: Path, db: Database, queue: str, base_url: str
) -> Result:
    """``respq submit PATH --wait -o OUT --errors ERR`` in-process on ``db`` and ``queue``,
    while a burst worker in a thread (calling ``base_url``) drains the queue once the batch
    is enqueued; whatever failed in the thread is raised here."""
    redis = db.redis

    def drain_once_enqueued() -> None:
        schedule, _ = schedule_keys(queue)
        wait_until(lambda: bool(redis.zcard(schedule)), 30, "submit to enqueue")
        burst_worker(db, queue, base_url)

    with ThreadPoolExecutor(1) as pool:
        worker = pool.submit(drain_once_enqueued)
        args = ["submit", str(path), "--wait", "-o", str(out), "--errors", str(err)]
        result = invoke(args, env=env_for(db, queue))
        worker.result(timeout=60)
    return result

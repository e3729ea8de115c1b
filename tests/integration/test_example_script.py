"""examples/submit_example.py runs end to end against the shared Redis, with an in-process
arq worker calling mockapi over HTTP."""

from __future__ import annotations

import asyncio
import sys

import pytest
from pydantic import SecretStr

from respq.contract.constants import BATCHES_KEY, schedule_keys
from respq.mockapi import MockConfig, MockServer
from respq.worker import WorkerConfig

from helpers.databases import Database
from helpers.factories import unique_queue
from helpers.paths import EXAMPLES, ROOT
from helpers.polling import wait_until_async
from helpers.processes import subprocess_env
from helpers.workers import build_worker, run_burst

SUBMIT_EXAMPLE = EXAMPLES / "submit_example.py"
API_KEY = "example-key"


async def wait_until_queued(db: Database, queue: str, proc: asyncio.subprocess.Process) -> None:
    """Until the example's batch is sealed onto the schedule (or the script has died)."""
    schedule, _ = schedule_keys(queue)

    async def queued() -> bool:
        if proc.returncode is not None:
            return True
        return bool(db.redis.zcard(BATCHES_KEY) and db.redis.zcard(schedule))

    await wait_until_async(queued, 30, "submit_example.py to enqueue", interval=0.05)


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_submit_example_runs_end_to_end(db: Database) -> None:
    queue = unique_queue("examples-test")
    env = subprocess_env(db, queue)
    with MockServer(MockConfig(api_key=API_KEY)) as srv:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SUBMIT_EXAMPLE), "--timeout", "60",
            cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_until_queued(db, queue, proc)
            config = WorkerConfig(
                redis_url=db.url,
                base_url=srv.base_url,
                queue_name=queue,
                api_key=SecretStr(API_KEY),
            )
            await run_burst(build_worker(config), timeout=60)
            stdout, _ = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        served = srv.stats()
    output = stdout.decode()
    assert proc.returncode == 0, output
    assert "status=completed" in output
    assert "total=4 completed=4 failed=0" in output
    for custom_id in ("line-1", "line-2", "line-3", "city-json"):
        assert f"\n{custom_id}: " in output, output
    assert "ERROR" not in output
    assert served["requests"] == 4
    assert served["auth_failures"] == 0

"""examples/: every batch line validates, and submit_example.py runs end to end against the
real Redis with an in-process arq worker calling mockapi."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from contract.constants import BATCHES_KEY, schedule_keys
from mockapi import MockConfig, MockServer
from mockapi.config import DEFAULT_MODELS
from producer.validation import ItemPreparer
from worker import WorkerConfig, worker_options
from worker.resilient import ResilientWorker

from helpers.paths import ROOT

EXAMPLES = ROOT / "examples"
BATCH_FILE = EXAMPLES / "batch.jsonl"
SUBMIT_EXAMPLE = EXAMPLES / "submit_example.py"
TEST_DB = 13
REDIS_URL = f"redis://127.0.0.1:6379/{TEST_DB}"
API_KEY = "example-key"


def batch_lines() -> list[tuple[int, bytes]]:
    return [
        (lineno, raw)
        for lineno, raw in enumerate(BATCH_FILE.read_bytes().splitlines(), start=1)
        if raw.strip()
    ]


def bodies() -> list[dict[str, Any]]:
    return [json.loads(raw)["body"] for _, raw in batch_lines()]


# -- examples/batch.jsonl -----------------------------------------------------------------


def test_every_batch_line_validates() -> None:
    preparer = ItemPreparer()
    prepared = [preparer.add_line(raw, lineno) for lineno, raw in batch_lines()]
    assert preparer.problems == []
    assert all(item is not None for item in prepared)
    assert 15 <= len(prepared) <= 30


def test_batch_lines_are_openai_batch_lines() -> None:
    for _, raw in batch_lines():
        line = json.loads(raw)
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert line["method"] == "POST"
        assert line["url"] == "/v1/responses"


def test_batch_uses_served_models_plus_one_typo() -> None:
    models = [body["model"] for body in bodies()]
    unknown = [m for m in models if m not in DEFAULT_MODELS]
    assert unknown == ["gpt-typo"]
    assert len(set(models) - {"gpt-typo"}) >= 3


def test_batch_covers_the_request_shapes() -> None:
    found = bodies()

    def any_body(check: Callable[[dict[str, Any]], bool]) -> bool:
        return any(check(body) for body in found)

    def parts(body: dict[str, Any]) -> list[dict[str, Any]]:
        value = body.get("input")
        items: list[dict[str, Any]] = value if isinstance(value, list) else []
        return [
            p for item in items if isinstance(item.get("content"), list) for p in item["content"]
        ]

    assert any_body(lambda b: isinstance(b.get("input"), str) and "instructions" not in b)
    assert any_body(lambda b: "instructions" in b)
    assert any_body(lambda b: isinstance(b.get("input"), list) and "role" in b["input"][0])
    assert any_body(
        lambda b: any(
            p["type"] == "input_image" and p.get("image_url", "").startswith("https://")
            for p in parts(b)
        )
    )
    assert any_body(lambda b: (b.get("text") or {}).get("format", {}).get("type") == "json_schema")
    assert any_body(lambda b: "max_output_tokens" in b)
    assert any_body(lambda b: "metadata" in b)
    assert sum(1 for b in found if b.get("stream") is True) == 1


# -- examples/submit_example.py -----------------------------------------------------------


@pytest.fixture
async def redis_db() -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"this test needs Redis at {REDIS_URL}: {exc}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def wait_until_queued(redis: Redis, queue: str, proc: asyncio.subprocess.Process) -> None:
    """Until the example's batch is sealed onto the schedule (or the script has died)."""
    deadline = time.monotonic() + 30
    schedule, _ = schedule_keys(queue)
    while not (await redis.zcard(BATCHES_KEY) and await redis.zcard(schedule)):
        if proc.returncode is not None:
            return
        assert time.monotonic() < deadline, "submit_example.py enqueued nothing within 30s"
        await asyncio.sleep(0.05)


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_submit_example_runs_end_to_end(redis_db: Redis) -> None:
    queue = f"respq-examples-test:{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPQ_")}
    env.update(RESPQ_REDIS_URL=REDIS_URL, RESPQ_QUEUE_NAME=queue)
    with MockServer(MockConfig(api_key=API_KEY)) as srv:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SUBMIT_EXAMPLE), "--timeout", "60",
            cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_until_queued(redis_db, queue, proc)
            config = WorkerConfig(
                redis_url=REDIS_URL,
                base_url=srv.base_url,
                queue_name=queue,
                api_key=SecretStr(API_KEY),
            )
            opts = worker_options(config)
            opts["redis_settings"].database = TEST_DB
            worker = ResilientWorker(**opts, burst=True, handle_signals=False)
            try:
                await asyncio.wait_for(worker.main(), 60)
            finally:
                await worker.close()
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

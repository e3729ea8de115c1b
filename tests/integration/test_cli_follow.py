"""Following batches: ``respq watch``'s progress bar on a terminal and ``respq top --once``."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from respq.mockapi import MockServer

from helpers.cli import invoke, submit
from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.workers import burst_worker

pytestmark = pytest.mark.integration


def test_progress_bar_on_a_terminal(
    tmp_path: Path, env: dict[str, str], db: Database, queue_name: str, mock: MockServer
) -> None:

    from rich.console import Console

    from respq import BatchClient
    from respq.producer.cli.progress import follow

    batch_id = submit(write_jsonl(tmp_path / "in.jsonl", 8), env)
    burst_worker(db, queue_name, mock.base_url)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160)

    async def go() -> str:
        async with BatchClient.from_url(env["RESPQ_REDIS_URL"], queue_name=queue_name) as client:
            info = await follow(await client.get(batch_id), console, poll_interval=0.05)
            return str(info.status)

    assert asyncio.run(go()) == "completed"
    text = screen.getvalue()
    assert "8/8" in text
    assert "failed 0" in text
    assert "tokens" in text


def test_top_once_with_no_batches(env: dict[str, str]) -> None:
    result = invoke(["top", "--once"], env={**env, "RESPQ_TPM": "90000"})
    assert result.exit_code == 0
    assert "no batches" in result.stdout and "of RESPQ_TPM 90,000" in result.stdout

"""Every batch the API returns is one the official SDK's ``Batch`` type accepts, checked
strictly (``Batch.model_validate``, whose status is a Literal of OpenAI's statuses): a batch
made by ``respq submit`` names an input file (``file-in-<B>``) that the Files API serves,
rebuilt from the requests in Redis, and a paused batch is ``in_progress`` with its pause in
extra fields. The app runs in-process (ASGI) on the module's database of the shared Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from openai.types import Batch as SdkBatch

from respq import BatchClient
from respq.contract.constants import BatchKeys

from helpers.asgi import served_sdk
from helpers.cli import env_for, invoke
from helpers.databases import Database
from helpers.factories import request_line

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(db: Database, queue_name: str, tmp_path: Path) -> AsyncIterator[openai.AsyncOpenAI]:
    # Batches made by `respq submit` or Python belong to no tenant: an admin key sees them.
    async with served_sdk(db.url, queue_name, tmp_path / "files") as sdk:
        yield sdk


async def batch_json(api: openai.AsyncOpenAI, batch_id: str) -> dict[str, Any]:
    raw = await api.batches.with_raw_response.retrieve(batch_id)
    data: dict[str, Any] = orjson.loads(raw.content)
    return data


async def test_a_cli_batch_names_an_input_file_the_files_api_serves(
    api: openai.AsyncOpenAI, db: Database, queue_name: str, tmp_path: Path
) -> None:
    lines = [request_line(i, cid=f"r{i}") for i in range(4)]
    lines.append(b'{"model": "gpt-5.4-mini", "input": "a bare body"}')
    chained = {"custom_id": "next", "method": "POST", "url": "/v1/responses", "depends_on": "r0"}
    lines.append(orjson.dumps({**chained, "body": {"model": "m", "input": "go on"}}))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    # No worker serves this queue: every request is still waiting, so every line is kept.
    submitted = await asyncio.to_thread(invoke, ["submit", str(path)], env=env_for(db, queue_name))
    assert submitted.exit_code == 0, submitted.output
    batch_id = submitted.stdout.strip()

    batch = SdkBatch.model_validate(await batch_json(api, batch_id))
    assert batch.input_file_id == f"file-in-{batch_id}"
    content = (await api.files.content(batch.input_file_id)).content
    served = [orjson.loads(line) for line in content.splitlines()]
    expected = [orjson.loads(line) for line in lines]
    expected[4] = {"custom_id": "line-5", "method": "POST", "url": "/v1/responses",
                   "body": expected[4]}  # fmt: skip
    assert served == expected
    stored = await api.files.retrieve(batch.input_file_id)
    assert (stored.bytes, stored.purpose, stored.status_details) == (len(content), "batch", None)

    # A success's body is dropped by the write-back: its line is left out, and said so.
    db.redis.hset(BatchKeys(batch_id).req, "r1", b"")
    content = (await api.files.content(batch.input_file_id)).content
    assert [orjson.loads(line)["custom_id"] for line in content.splitlines()] == [
        "r0", "r2", "r3", "line-5", "next"
    ]  # fmt: skip
    stored = await api.files.retrieve(batch.input_file_id)
    assert stored.bytes == len(content)
    assert stored.status_details and stored.status_details.startswith("1 of 6 requests")
    with pytest.raises(openai.BadRequestError):
        await api.files.delete(batch.input_file_id)
    with pytest.raises(openai.NotFoundError):
        await api.files.content("file-in-batch_unknown")


async def test_a_paused_batch_is_in_progress_with_its_pause_in_extra_fields(
    api: openai.AsyncOpenAI, db: Database, queue_name: str
) -> None:
    async with BatchClient.from_url(db.url, queue_name=queue_name) as producer:
        made = await producer.submit([{"model": "gpt-5.4-mini", "input": "hi"}])
    reason = "insufficient_quota: 3 account errors in a row"
    db.redis.hset(
        BatchKeys(made.id).meta,
        mapping={"status": "paused", "paused_at": 1700000000, "pause_reason": reason},
    )

    shown = await batch_json(api, made.id)
    batch = SdkBatch.model_validate(shown)
    assert batch.status == "in_progress"
    assert (shown["paused"], shown["paused_at"], shown["pause_reason"]) == (
        True,
        1700000000,
        reason,
    )
    listed = orjson.loads((await api.batches.with_raw_response.list()).content)
    for item in listed["data"]:
        SdkBatch.model_validate(item)

"""The core path on real parts: the real Redis, a real arq worker, mockapi over HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from respq import BatchClient, BatchStatus, ResponsesRequest
from respq.mockapi import MockServer

from helpers.databases import Database
from helpers.workers import build_worker, run_burst, worker_config

pytestmark = pytest.mark.integration


async def run_worker(db: Database, upstream: MockServer, queue_name: str, **overrides: Any) -> None:
    config = worker_config(upstream, queue_name, **{"api_key": "test-key", **overrides})
    await run_burst(build_worker(config, db=db))


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
async def test_submit_work_collect(
    real_client: BatchClient,
    db: Database,
    mock_upstream: MockServer,
    queue_name: str,
    auth_header: str,
) -> None:
    mock_upstream.reset()
    items: list[Any] = [
        ResponsesRequest(model="gpt-5.4", input="Write a caption.", instructions="Be brief."),
        {"model": "gpt-5.4-mini", "input": [{"role": "user", "content": "Hi"}]},
        {"custom_id": "typo", "body": {"model": "gpt-typo", "input": "x"}},
        {
            "custom_id": "streamed",
            "body": {"model": "gpt-4.1", "input": "stream me", "stream": True},
        },
        {
            "custom_id": "json",
            "body": {
                "model": "gpt-5.4",
                "input": "Extract a task.",
                "text": {
                    "format": {
                        "type": "json_schema",
                        "name": "task",
                        "schema": {
                            "type": "object",
                            "properties": {"owner": {"type": "string"}},
                            "required": ["owner"],
                        },
                    }
                },
            },
        },
    ]
    batch = await real_client.submit(items, metadata={"suite": "core"})
    await run_worker(db, mock_upstream, queue_name, auth_header=auth_header)

    info = await batch.wait(timeout=10)
    assert info.status is BatchStatus.COMPLETED
    assert (info.request_counts.completed, info.request_counts.failed) == (4, 1)
    assert info.errors_by_code == {"model_not_found": 1}
    assert mock_upstream.stats()["auth_failures"] == 0

    lines = [line async for line in batch.results()]
    assert [line.custom_id for line in lines] == ["line-1", "line-2", "typo", "streamed", "json"]
    by_id = {line.custom_id: line for line in lines}
    # An HTTP failure is written as OpenAI writes it: the answer, and error null.
    assert by_id["typo"].error is None and by_id["typo"].code == "model_not_found"
    assert not by_id["typo"].succeeded
    assert by_id["typo"].response is not None and by_id["typo"].response.status_code == 404
    streamed = by_id["streamed"].response
    assert streamed is not None and streamed.body["object"] == "response"
    json_out = by_id["json"].response
    assert json_out is not None
    assert "owner" in orjson.loads(json_out.body["output_text"])

    bodies = [line.response.body for line in lines if line.succeeded and line.response]
    assert info.usage.total_tokens == sum(b["usage"]["total_tokens"] for b in bodies)
    assert info.usage.input_tokens == sum(b["usage"]["input_tokens"] for b in bodies)


async def test_wrong_key_is_final_invalid_api_key(
    real_client: BatchClient, db: Database, mock_upstream: MockServer, queue_name: str
) -> None:
    mock_upstream.reset()
    batch = await real_client.submit([{"model": "gpt-5.4", "input": "x"}] * 1)
    await run_worker(db, mock_upstream, queue_name, api_key="wrong")
    info = await batch.wait(timeout=10)
    assert info.errors_by_code == {"invalid_api_key": 1}
    assert mock_upstream.stats()["auth_failures"] == 1


async def test_big_batch_counts_are_exact(
    real_client: BatchClient, db: Database, mock_upstream: MockServer, queue_name: str
) -> None:
    items = [{"model": "gpt-5.4", "input": f"question {i}"} for i in range(600)]
    batch = await real_client.submit(items)
    await run_worker(db, mock_upstream, queue_name)
    info = await batch.wait(timeout=30)
    assert (info.request_counts.total, info.request_counts.completed) == (600, 600)
    raw_lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    assert len({line["custom_id"] for line in raw_lines}) == 600
    assert info.usage.output_tokens == sum(
        line["response"]["body"]["usage"]["output_tokens"] for line in raw_lines
    )


async def test_chain_child_continues_its_parents_stored_response(
    real_client: BatchClient, db: Database, mock_upstream: MockServer, queue_name: str
) -> None:
    mock_upstream.reset()
    items = [
        {"custom_id": "ideas", "body": {"model": "gpt-5.4", "input": "Three names."}},
        {
            "custom_id": "playful",
            "depends_on": "ideas",
            "body": {"model": "gpt-5.4", "input": "More playful."},
        },
    ]
    batch = await real_client.submit(items)
    await run_worker(db, mock_upstream, queue_name)
    info = await batch.wait(timeout=10)
    assert info.request_counts.completed == 2, info.errors_by_code
    lines = {line.custom_id: line async for line in batch.results()}
    parent = lines["ideas"].response
    child = lines["playful"].response
    assert parent is not None and child is not None
    assert child.body["previous_response_id"] == parent.body["id"]
    log = mock_upstream.stats()["request_log"]
    assert [entry["previous_response_id"] for entry in log] == [None, parent.body["id"]]

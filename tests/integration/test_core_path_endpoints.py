"""A batch file of each endpoint (examples/*.jsonl) through ``respq submit --wait`` and
through Python, against mockapi over HTTP and a real worker: each custom_id once, every
success valid for the official SDK's type, usage totals equal to the sum over the lines,
and the CLI's files byte for byte what the Python API reads."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from respq import (
    BatchClient,
    BatchStatus,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    ModerationRequest,
)
from respq.contract.constants import BatchKeys
from respq.contract.image_request import ImageRef
from respq.mockapi import MockServer
from respq.mockapi.vectors import vector

from helpers.cli import api_lines, file_lines, invoke, submit_wait
from helpers.databases import Database
from helpers.endpoints import EXAMPLE_FILES, example, sdk_check, usage_of
from helpers.paths import EXAMPLES
from helpers.workers import build_worker, run_burst, worker_config

pytestmark = pytest.mark.integration


def check_batch(url: str, lines: list[dict[str, Any]], info: Any, sent: list[str]) -> None:
    assert sorted(line["custom_id"] for line in lines) == sorted(sent)  # each once
    assert info.endpoint == url and info.status is BatchStatus.COMPLETED
    totals = [0, 0]
    for line in lines:
        if line["error"] is not None or line["response"]["status_code"] != 200:
            assert line["custom_id"] == "missing-model-1", line
            continue
        body = line["response"]["body"]
        sdk_check(url, body)
        for i, n in enumerate(usage_of(url, body)):
            totals[i] += n
    assert [info.usage.input_tokens, info.usage.output_tokens] == totals
    assert info.openai_shape()["usage"]["input_tokens"] == totals[0]


@pytest.mark.parametrize("url", list(EXAMPLE_FILES))
async def test_python_runs_each_endpoints_example(
    real_client: BatchClient, db: Database, queue_name: str, mock: MockServer, url: str
) -> None:
    items = example(url)
    batch = await real_client.submit(items)
    await run_burst(build_worker(worker_config(mock, queue_name), db=db))
    info = await batch.wait(timeout=30)
    lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    check_batch(url, lines, info, [item["custom_id"] for item in items])


async def test_typed_requests_of_each_endpoint_and_vectors_as_the_upstream_sent_them(
    real_client: BatchClient, db: Database, queue_name: str, mock: MockServer
) -> None:
    typed: list[Any] = [
        ChatCompletionRequest(model="gpt-5.4", messages=[{"role": "user", "content": "Hi"}]),
        CompletionRequest(model="gpt-3.5-turbo-instruct", prompt="Say"),
        ModerationRequest(input="hello"),
        ImageGenerationRequest(prompt="a lighthouse", quality="low", size="1024x1024"),
        ImageEditRequest(prompt="bluer", images=[ImageRef(file_id="file-1")], n=2),
        EmbeddingRequest(model="text-embedding-3-small", input=["alpha", "beta"]),
    ]
    batches = [await real_client.submit([request]) for request in typed]
    await run_burst(build_worker(worker_config(mock, queue_name), db=db))
    for batch in batches:
        assert (await batch.wait(timeout=30)).request_counts.completed == 1
    # The images' usage as the mock's image model reports it: low 1024x1024 is 272 tokens
    # an image; an edit left at auto quality is drawn medium, 1,056 tokens, times n.
    for batch, output_tokens in zip(batches[3:5], (272, 2 * 1056), strict=True):
        (image_line,) = [orjson.loads(raw) async for raw in batch.result_lines()]
        sdk_check("/v1/images/generations", image_line["response"]["body"])
        assert (await batch.status()).usage.output_tokens == output_tokens
    (line,) = [orjson.loads(raw) async for raw in batches[-1].result_lines()]
    data = line["response"]["body"]["data"]
    # The vectors mockapi computed, value for value, after a trip through packed storage.
    assert [d["embedding"] for d in data] == [vector("alpha", 1536), vector("beta", 1536)]
    stored = await real_client.redis.hget(BatchKeys(batches[-1].id).res, "line-1")
    raw = orjson.dumps(line)
    assert stored is not None and len(stored) < 0.3 * len(raw)


@pytest.mark.parametrize("url", list(EXAMPLE_FILES))
def test_respq_submit_wait_writes_each_endpoints_results(
    tmp_path: Path,
    env: dict[str, str],
    db: Database,
    queue_name: str,
    mock: MockServer,
    url: str,
) -> None:
    path = EXAMPLE_FILES[url]
    out, err = tmp_path / "o.jsonl", tmp_path / "e.jsonl"
    result = submit_wait(path, out, err, db, queue_name, mock.base_url)
    # examples/batch.jsonl (responses) has one line on an unknown model, by design.
    failed = 1 if url == "/v1/responses" else 0
    assert result.exit_code == failed, result.output
    batch_id = result.stdout.strip()
    assert f"request(s) for {url}" in result.stderr
    assert re.search(r"endpoint\W+" + re.escape(url), result.stderr)  # the status table
    ok, bad = api_lines(db, queue_name, batch_id)
    assert file_lines(out) == ok and file_lines(err) == bad and len(bad) == failed
    listed = invoke(["results", batch_id, "-o", str(tmp_path / "again.jsonl")], env=env)
    assert f"{batch_id} ({url}): {len(ok)} succeeded, {failed} failed" in listed.stderr
    lines = [orjson.loads(raw) for raw in ok + bad]

    async def status() -> Any:
        async with BatchClient.from_url(db.url, queue_name=queue_name) as client:
            return await (await client.get(batch_id)).status()

    check_batch(url, lines, asyncio.run(status()), [item["custom_id"] for item in example(url)])


def test_a_mixed_file_is_refused_before_anything_is_enqueued(
    tmp_path: Path, env: dict[str, str], db: Database
) -> None:
    path = tmp_path / "mixed.jsonl"
    chat = (EXAMPLES / "chat.jsonl").read_bytes().splitlines()
    embeddings = (EXAMPLES / "embeddings.jsonl").read_bytes().splitlines()
    path.write_bytes(b"\n".join([*chat[:2], embeddings[0], chat[2], *embeddings[1:]]) + b"\n")
    result = invoke(["submit", str(path)], env=env)
    assert result.exit_code == 2
    assert "line 3 (custom_id 'embed-1'): field 'url': /v1/embeddings here, but line 1" in (
        result.output
    )
    assert db.redis.dbsize() == 0

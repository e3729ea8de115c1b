"""The official SDK's batch workflow, unchanged, against ``respq serve`` for each endpoint:
upload, ``batches.create(endpoint=…)``, poll, download; and a file whose lines name another
endpoint fails the batch with ``errors.data[]`` as OpenAI's does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from helpers.endpoints import EXAMPLE_FILES, example, sdk_check, usage_of
from helpers.paths import EXAMPLES
from helpers.server import Stack, sdk, upload, wait_done
from helpers.shapes import jsonl_lines

pytestmark = pytest.mark.integration


@pytest.fixture
def client(stack: Stack) -> openai.OpenAI:
    return sdk(stack)


@pytest.mark.parametrize(
    "url", ["/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations"]
)
def test_the_sdk_batch_workflow_runs_each_endpoint(client: openai.OpenAI, url: str) -> None:
    sent = [line["custom_id"] for line in example(url)]
    batch = client.batches.create(
        input_file_id=upload(client, EXAMPLE_FILES[url]),
        endpoint=url,  # type: ignore[arg-type]
        completion_window="24h",
    )
    assert batch.endpoint == url
    done = wait_done(client, batch.id)
    assert done.status == "completed" and done.error_file_id is None
    assert done.output_file_id is not None
    text = client.files.content(done.output_file_id).text
    out = jsonl_lines(text)
    assert sorted(line["custom_id"] for line in out) == sorted(sent)
    totals = [0, 0]
    for line in out:
        body: dict[str, Any] = line["response"]["body"]
        sdk_check(url, body)
        for i, n in enumerate(usage_of(url, body)):
            totals[i] += n
    assert done.usage is not None
    assert [done.usage.input_tokens, done.usage.output_tokens] == totals


def test_lines_of_another_endpoint_fail_the_batch_with_errors_data(
    client: openai.OpenAI, stack: Stack, tmp_path: Path
) -> None:
    chat = (EXAMPLES / "chat.jsonl").read_bytes().splitlines()
    path = tmp_path / "mismatch.jsonl"
    embeddings = (EXAMPLES / "embeddings.jsonl").read_bytes().splitlines()
    path.write_bytes(b"\n".join([chat[0], *embeddings[:2]]) + b"\n")
    batch = client.batches.create(
        input_file_id=upload(client, path), endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_done(client, batch.id)
    assert done.status == "failed" and done.errors is not None and done.errors.data
    assert [(e.line, e.code, e.param) for e in done.errors.data] == [
        (2, "url_mismatch", "url"),
        (3, "url_mismatch", "url"),
    ]
    assert stack.db.redis.hget(f"respq:{{{batch.id}}}:meta", "total") == b"0"

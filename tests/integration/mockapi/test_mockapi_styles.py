"""mockapi answers in other providers' styles; the official openai SDK reads every one of
them (its own call path is as liberal as respq's must be), and a batch over the `mixed`
style through a real worker records every answer as a success with exact usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from respq import BatchClient, BatchStatus
from respq.contract.lines import is_success
from respq.contract.response import Usage
from respq.mockapi import MockConfig, MockServer
from respq.mockapi.styles import STYLES
from respq.worker import WorkerConfig

from helpers.databases import Database
from helpers.shapes import check_line
from helpers.workers import build_worker, run_burst


@pytest.fixture(scope="module")
def srv() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="sk-test")) as server:
        yield server


@pytest.mark.parametrize("style", sorted(STYLES))
async def test_the_sdk_reads_every_style(srv: MockServer, style: str) -> None:
    srv.control(style=style)
    try:
        async with openai.AsyncOpenAI(
            base_url=srv.base_url, api_key="sk-test", max_retries=0
        ) as client:
            raw = await client.responses.with_raw_response.create(model="gpt-5.4", input="Hi")
    finally:
        srv.control(style="seed")
    body = orjson.loads(raw.content)
    response = raw.parse()
    assert response.output_text  # the SDK derives it where the style leaves it out
    assert ("output_text" in body) == (style in ("seed", "openrouter", "chat-usage"))
    assert Usage.read(body["usage"]).total_tokens > 0


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown style 'nope'"):
        MockConfig(style="nope")


@pytest.mark.integration
async def test_a_batch_over_mixed_styles_is_all_successes_with_exact_usage(
    real_client: BatchClient, db: Database, queue_name: str
) -> None:
    n = 120
    with MockServer(MockConfig(api_key="test-key", style="mixed", seed=7)) as upstream:
        batch = await real_client.submit(
            [
                {"model": "gpt-5.4", "input": f"q{i}", **({"stream": True} if i % 3 == 0 else {})}
                for i in range(n)
            ]
        )
        config = WorkerConfig(base_url=upstream.base_url, api_key="test-key", queue_name=queue_name)
        await run_burst(build_worker(config, db=db))
    info = await batch.wait(timeout=10)
    assert info.status is BatchStatus.COMPLETED
    assert (info.request_counts.completed, info.request_counts.failed) == (n, 0)
    lines: list[dict[str, Any]] = [orjson.loads(raw) async for raw in batch.result_lines()]
    assert all(is_success(check_line(line).model_dump()) for line in lines)
    usage = [Usage.read(line["response"]["body"]["usage"]) for line in lines]
    assert info.usage.input_tokens == sum(u.input_tokens for u in usage) > 0
    assert info.usage.total_tokens == sum(u.total_tokens for u in usage)
    ids = {line["response"]["body"]["id"][:4] for line in lines}
    assert {"gen-", "resp"} <= ids  # several styles were really in the mix

"""A batch against software respq did not write: LiteLLM's proxy (litellm[proxy], models
with ``mock_response``) as the upstream over real HTTP. Its Response bodies carry nulls in
the usage details, ids far from ``resp_…``, and its own request-id header; every answered
request must be a success, with usage totals equal to the sum of the bodies' numbers. The
same for chat completions (plain and streamed), embeddings and image generations (LiteLLM
in front of mockapi's, reshaped into its own answer), each read by the official SDK's type.

The proxy lives in its own virtualenv (its pins would fight respq's): ``.ci/run`` makes
``.venv-litellm``; elsewhere set RESPQ_TEST_LITELLM to a ``litellm`` executable."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from respq import BatchClient, BatchInfo, BatchStatus
from respq.contract.lines import OutputLine, is_success
from respq.contract.response import Usage
from respq.mockapi import MockServer
from respq.worker import WorkerConfig

from helpers.databases import Database
from helpers.endpoints import sdk_check
from helpers.paths import ROOT
from helpers.ports import free_port
from helpers.processes import Managed, http_ok
from helpers.shapes import check_line
from helpers.workers import build_worker, run_burst

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MASTER_KEY = "sk-litellm-master-key"
CONFIG = """\
model_list:
  - model_name: gpt-4o-mock
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-not-used
      mock_response: "Hello from LiteLLM's mock model."
  - model_name: claude-mock
    litellm_params:
      model: anthropic/claude-3-5-sonnet-20240620
      api_key: sk-not-used
      mock_response: "A longer answer, so that the two models' usage differs a little."
  - model_name: embedding-via-litellm
    litellm_params:
      model: openai/text-embedding-3-small
      api_key: {mock_key}
      api_base: {mock_url}
  - model_name: image-via-litellm
    litellm_params:
      model: openai/gpt-image-1.5
      api_key: {mock_key}
      api_base: {mock_url}
general_settings:
  master_key: {key}
"""


def litellm_executable() -> Path:
    configured = os.environ.get("RESPQ_TEST_LITELLM")
    path = Path(configured) if configured else ROOT / ".venv-litellm" / "bin" / "litellm"
    if not path.exists():
        message = f"LiteLLM's proxy is not installed at {path} (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def litellm_url(tmp_path_factory: pytest.TempPathFactory, mock: MockServer) -> Iterator[str]:
    executable = litellm_executable()
    directory = tmp_path_factory.mktemp("litellm")
    config = CONFIG.format(key=MASTER_KEY, mock_key="unused", mock_url=mock.base_url)
    (directory / "config.yaml").write_text(config)
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of a remote price list
        "LITELLM_TELEMETRY": "False",
    }
    proc = Managed(
        [executable, "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)],
        env,
        directory / "proxy.log",
        cwd=directory,
    )
    base = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(base + "/health/liveliness"), 90, "LiteLLM's proxy start-up")
    try:
        yield base + "/v1"
    finally:
        proc.stop(10)


Lines = list[dict[str, Any]]
Run = Callable[..., Awaitable[tuple[BatchInfo, Lines]]]


@pytest.fixture
def through_litellm(
    real_client: BatchClient, db: Database, litellm_url: str, queue_name: str
) -> Run:
    """Submit one request per body to ``url``, run one worker against the proxy until the
    queue is empty, check that the batch completed with ``failed`` failures, that every
    line has OpenAI's shape and (``judged``) every answer the SDK's type; the status and
    the lines."""

    async def run(
        url: str, bodies: Lines, failed: int = 0, *, judged: bool = True
    ) -> tuple[BatchInfo, Lines]:
        items = [{"custom_id": f"r{i}", "url": url, "body": b} for i, b in enumerate(bodies)]
        batch = await real_client.submit(items)
        config = WorkerConfig(
            base_url=litellm_url,
            api_key=MASTER_KEY,
            queue_name=queue_name,
            worker_in_flight=32,
            retry_base=0.05,
            retry_cap=0.2,
        )
        await run_burst(build_worker(config, db=db), timeout=120)
        info = await batch.wait(timeout=10)
        assert info.status is BatchStatus.COMPLETED
        counts = info.request_counts
        assert (counts.completed, counts.failed) == (len(bodies) - failed, failed)
        lines = [orjson.loads(raw) async for raw in batch.result_lines()]
        for line in lines:
            check_line(line)
            if judged and is_success(line):
                sdk_check(url, line["response"]["body"])
        return info, lines

    return run


async def test_a_batch_against_litellms_proxy_is_all_successes_with_exact_usage(
    through_litellm: Run,
) -> None:
    n = 200
    model = ["claude-mock", "gpt-4o-mock"]
    bodies = [{"model": model[i % 2], "input": f"Question {i}"} for i in range(n)]
    # LiteLLM's Responses carry nulls where the SDK's type wants numbers: stored unchanged,
    # as any provider's 2xx body is, and read liberally (Usage.read).
    bodies.append({"model": "nope", "input": "x"})
    info, lines = await through_litellm("/v1/responses", bodies, 1, judged=False)
    answered = [line for line in lines if is_success(line)]
    answers = [line["response"]["body"] for line in answered]
    assert any(b["usage"]["output_tokens_details"]["reasoning_tokens"] is None for b in answers)
    assert all(line["response"]["request_id"] for line in answered)  # x-litellm-call-id
    usage = [Usage.read(b["usage"]) for b in answers]
    assert info.usage.input_tokens == sum(u.input_tokens for u in usage) > 0
    assert info.usage.output_tokens == sum(u.output_tokens for u in usage) > 0
    assert info.usage.total_tokens == sum(u.total_tokens for u in usage)
    per_model = {m: u.requests for m, u in info.usage_by_model.items()}
    assert per_model == {"gpt-4o-mock": n // 2, "claude-mock": n // 2, "nope": 1}

    # LiteLLM's own error: an HTTP 400 answer, kept as OpenAI's error files keep it.
    (failure,) = [line for line in lines if not is_success(line)]
    assert failure["error"] is None and failure["response"]["status_code"] == 400
    code = OutputLine.model_validate(failure).code
    assert code is not None and info.errors_by_code == {code: 1}


async def test_chat_completions_through_litellms_proxy_plain_and_streamed(
    through_litellm: Run,
) -> None:
    stream = {"stream": True, "stream_options": {"include_usage": True}}
    model = ["claude-mock", "gpt-4o-mock"]
    messages = [{"role": "user", "content": "Question"}]
    requests: Lines = [{"model": model[i % 2], "messages": messages} for i in range(60)]
    for body in requests[::3]:
        body |= stream
    info, lines = await through_litellm("/v1/chat/completions", requests)
    answers = [line["response"]["body"] for line in lines]
    for answer in answers:
        assert answer["choices"][0]["message"]["content"].startswith(("Hello", "A longer"))
    assert info.usage.input_tokens == sum(b["usage"]["prompt_tokens"] for b in answers) > 0
    assert info.usage.output_tokens == sum(b["usage"]["completion_tokens"] for b in answers) > 0


async def test_embeddings_through_litellms_proxy(through_litellm: Run) -> None:
    body = {"model": "embedding-via-litellm", "input": ["some text", "and more"]}
    info, lines = await through_litellm("/v1/embeddings", [body] * 40)
    answers = [line["response"]["body"] for line in lines]
    assert all([len(d["embedding"]) for d in a["data"]] == [1536, 1536] for a in answers)
    assert info.usage.input_tokens == sum(b["usage"]["prompt_tokens"] for b in answers) > 0
    assert info.usage.output_tokens == 0


async def test_images_through_litellms_proxy(through_litellm: Run) -> None:
    body = {"model": "image-via-litellm", "prompt": "a lighthouse", "quality": "low", "n": 2}
    info, lines = await through_litellm("/v1/images/generations", [body] * 6)
    answers = [line["response"]["body"] for line in lines]
    assert all(len(answer["data"]) == 2 for answer in answers)
    assert info.usage.output_tokens == sum(b["usage"]["output_tokens"] for b in answers) > 0

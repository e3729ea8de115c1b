"""Provider compatibility: recorded Response bodies in the documented shapes of several
providers (tests/fixtures/provider_responses.json) all come back as successes, stored
unchanged, with the right usage; only bodies that are not Responses are failures."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.errors import ConnectionFailed, InvalidResponse
from respq.contract.lines import OutputLine, is_success
from respq.worker.upstream import UpstreamClient, build_http_client

from helpers.paths import FIXTURES
from helpers.ports import free_port
from helpers.shapes import check_line
from helpers.upstream import API_KEY, config
from helpers.workers import build_worker, run_burst

CASES: list[dict[str, Any]] = json.loads((FIXTURES / "provider_responses.json").read_text())
BODY = orjson.dumps({"model": "m", "input": "x"})


def answer(case: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=case["body"], headers=case["headers"])


@pytest.mark.parametrize("case", CASES, ids=[c["provider"] for c in CASES])
async def test_every_provider_body_is_a_success_with_its_usage(case: dict[str, Any]) -> None:
    http = build_http_client(config(), httpx.MockTransport(lambda _: answer(case)))
    async with http:
        result = await UpstreamClient(config(), http).send(BODY, stream=False)
    assert result.body == case["body"]  # stored as received
    expect = case["expect"]
    assert list(result.facts.usage.as_tuple()) == expect["usage"]
    assert result.request_id == expect["request_id"]
    assert result.facts.incomplete is expect["incomplete"]


async def test_a_mixed_batch_records_every_body_unchanged_and_exact_totals(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    by_input = {f"case-{i}": case for i, case in enumerate(CASES)}

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(by_input[orjson.loads(request.content)["input"]])

    batch = await fake_client.submit(
        [{"custom_id": key, "body": {"model": "m", "input": key}} for key in by_input]
    )
    worker = build_worker(
        config(queue_name), redis_pool=fake_redis, transport=httpx.MockTransport(handler)
    )
    await run_burst(worker)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert (info.request_counts.completed, info.request_counts.failed) == (len(CASES), 0)
    assert info.incomplete == sum(c["expect"]["incomplete"] for c in CASES) == 1
    sums = [sum(c["expect"]["usage"][i] for c in CASES) for i in range(5)]
    totals = info.usage
    assert [
        totals.input_tokens,
        totals.output_tokens,
        totals.total_tokens,
        totals.cached_tokens,
        totals.reasoning_tokens,
    ] == sums
    async for raw in batch.result_lines():
        line = orjson.loads(raw)
        check_line(line)
        assert is_success(line)
        assert line["response"]["body"] == by_input[line["custom_id"]]["body"]


@pytest.mark.parametrize(
    "body",
    [
        {"unexpected": True},
        [1, 2],
        "a string",
        {"error": {"message": "overloaded", "code": "server_error"}},
        {"object": "chat.completion", "choices": []},
    ],
    ids=["object", "list", "string", "error-in-200", "chat-completion"],
)
async def test_only_a_body_that_is_not_a_response_is_invalid(body: Any) -> None:
    http = build_http_client(
        config(), httpx.MockTransport(lambda _: httpx.Response(200, json=body))
    )
    async with http:
        with pytest.raises(InvalidResponse) as info:
            await UpstreamClient(config(), http).send(BODY, stream=False)
    assert info.value.code == "invalid_response"


async def test_a_refused_connection_is_connection_error_on_the_real_transport() -> None:
    # The real aiohttp transport: httpx-aiohttp reports a refusal as httpx.ConnectTimeout.
    cfg = config(base_url=f"http://127.0.0.1:{free_port()}/v1")
    http = build_http_client(cfg)
    async with http:
        with pytest.raises(ConnectionFailed) as info:
            await UpstreamClient(cfg, http).send(BODY, stream=False)
    assert info.value.code == "connection_error"


async def test_refused_requests_end_as_connection_error_and_retry_finds_them(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit([{"model": "m", "input": f"q{i}"} for i in range(4)])
    cfg = config(queue_name, base_url=f"http://127.0.0.1:{free_port()}/v1", max_attempts=2)
    await run_burst(build_worker(cfg, redis_pool=fake_redis))
    info = await batch.status()
    assert info.errors_by_code == {"connection_error": 4}
    lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    for line in lines:
        check_line(line)
        assert line["response"] is None and line["error"]["code"] == "connection_error"
    assert await batch.retry(codes=["connection_error"]) == 4


async def test_every_kind_of_failure_is_written_in_openai_shape(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    answers = {
        "not-found": httpx.Response(
            404,
            json={
                "error": {
                    "message": "no such model",
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            },
            headers={"x-request-id": "req_404"},
        ),
        "html-502": httpx.Response(502, text="<html>bad gateway</html>"),
        "flat-vllm": httpx.Response(
            404, json={"object": "error", "message": "model x does not exist", "code": 404}
        ),
        "echoes-key": httpx.Response(
            400, json={"error": {"message": f"bad key {API_KEY}", "code": "bad_request"}}
        ),
        "garbage": httpx.Response(200, text="<html>oops</html>"),
        "ok": httpx.Response(200, json=CASES[0]["body"]),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return answers[orjson.loads(request.content)["input"]]

    batch = await fake_client.submit(
        [{"custom_id": key, "body": {"model": "m", "input": key}} for key in answers]
    )
    worker = build_worker(
        config(queue_name, max_attempts=2),
        redis_pool=fake_redis,
        transport=httpx.MockTransport(handler),
    )
    await run_burst(worker)
    out = {line.custom_id: line async for line in (await fake_client.get(batch.id)).results()}
    raw = {k: v.model_dump(mode="json") for k, v in out.items()}
    for line in raw.values():
        check_line(line)
    # An HTTP failure: the answer as received, no error object, code in the body.
    assert raw["not-found"]["error"] is None
    assert raw["not-found"]["response"]["status_code"] == 404
    assert raw["not-found"]["response"]["request_id"] == "req_404"
    assert raw["not-found"]["response"]["body"]["error"]["code"] == "model_not_found"
    # A non-JSON error page becomes an OpenAI-style error object carrying respq's code.
    assert raw["html-502"]["response"]["body"]["error"]["code"] == "server_error"
    assert "bad gateway" in raw["html-502"]["response"]["body"]["error"]["message"]
    assert raw["flat-vllm"]["response"]["body"]["error"]["code"] == "not_found"
    assert API_KEY not in json.dumps(raw["echoes-key"])
    assert raw["garbage"]["response"] is None
    assert raw["garbage"]["error"]["code"] == "invalid_response"
    assert out["ok"].succeeded
    codes = {k: OutputLine.model_validate(v).code for k, v in raw.items()}
    info = await batch.status()
    assert (
        info.errors_by_code
        == {code: 1 for key, code in codes.items() if code is not None}
        == {
            "model_not_found": 1,
            "server_error": 1,
            "not_found": 1,
            "bad_request": 1,
            "invalid_response": 1,
        }
    )
    # retry --code takes an HTTP failure's code from its body, as the counts do.
    assert await (await fake_client.get(batch.id)).retry(codes=["model_not_found"]) == 1
    assert (await batch.status()).errors_by_code.get("model_not_found") is None

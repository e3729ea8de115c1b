"""Batches of every endpoint through a worker on fakeredis and httpx.MockTransport: each
request POSTed to ``{base_url}/<path>``, each success of the right kind stored as received,
usage counted per endpoint, and a streamed chat assembled into the plain call's object."""

from __future__ import annotations

from typing import Any

import httpx
import openai.types as sdk
import orjson
import pytest
from fakeredis.aioredis import FakeRedis
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from respq import BatchClient, BatchStateError, BatchStatus
from respq.contract.constants import BatchKeys
from respq.contract.lines import is_success
from respq.worker.budget import estimate_cost
from respq.worker.upstream import parse_success

from helpers.factories import (
    chat_body,
    chat_stream,
    completion_body,
    embedding_body,
    moderation_body,
    response_body,
)
from helpers.upstream import Upstream, drain, lines

CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "Hi"}]}
CASES: list[tuple[str, dict[str, Any], dict[str, Any], type[BaseModel]]] = [
    ("/v1/chat/completions", CHAT, chat_body(), ChatCompletion),
    (
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": ["a", "b"]},
        embedding_body(2),
        sdk.CreateEmbeddingResponse,
    ),
    ("/v1/completions", {"model": "m", "prompt": "Say"}, completion_body(), sdk.Completion),
    ("/v1/moderations", {"input": "text"}, moderation_body(), sdk.ModerationCreateResponse),
]


def batch_line(cid: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": cid, "method": "POST", "url": url, "body": body}


@pytest.mark.parametrize(("url", "request_body", "answer", "sdk_type"), CASES, ids=lambda c: c)
async def test_each_endpoint_posts_its_path_and_stores_its_answer_as_received(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    url: str,
    request_body: dict[str, Any],
    answer: dict[str, Any],
    sdk_type: type[BaseModel],
) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, content=orjson.dumps(answer))

    items = [batch_line(f"c{i}", url, request_body) for i in range(3)]
    batch = await fake_client.submit(items)
    await drain(fake_redis, queue_name, Upstream(handler))
    assert paths == ["/v1" + url.removeprefix("/v1")] * 3
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED and info.endpoint == url
    assert info.request_counts.completed == 3
    out = await lines(fake_client, batch.id)
    for line in out:
        assert line["response"]["body"] == answer
        sdk_type.model_validate(line["response"]["body"])
    usage = answer.get("usage") if url != "/v1/moderations" else None
    prompt = (usage or {}).get("prompt_tokens", 0)
    assert info.usage.input_tokens == 3 * prompt
    assert info.usage.output_tokens == 3 * (usage or {}).get("completion_tokens", 0)
    assert info.openai_shape()["usage"]["input_tokens"] == 3 * prompt


@pytest.mark.parametrize(
    ("url", "wrong"),
    [
        ("/v1/chat/completions", embedding_body()),
        ("/v1/embeddings", chat_body()),
        ("/v1/moderations", response_body()),
        ("/v1/completions", {"object": "list", "data": []}),
    ],
)
async def test_a_2xx_of_another_kind_is_invalid_response_after_one_send(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    url: str,
    wrong: dict[str, Any],
) -> None:
    request = dict(CASES[[c[0] for c in CASES].index(url)][1])
    upstream = Upstream(lambda _: httpx.Response(200, json=wrong))
    batch = await fake_client.submit([batch_line("x", url, request)])
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 1
    assert (await batch.status()).errors_by_code == {"invalid_response": 1}


async def test_a_streamed_chat_is_stored_as_the_chat_completion_the_plain_call_returns(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    plain = chat_body("Hello there, streamed friend.", tokens=(9, 6))
    stream = chat_stream(plain)
    upstream = Upstream(
        lambda _: httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})
    )
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    batch = await fake_client.submit([batch_line("s", "/v1/chat/completions", body)])
    await drain(fake_redis, queue_name, upstream)
    (line,) = await lines(fake_client, batch.id)
    assert line["response"]["body"] == plain
    ChatCompletion.model_validate(line["response"]["body"])
    info = await batch.status()
    assert (info.usage.input_tokens, info.usage.output_tokens) == (9, 6)


async def test_a_chat_stream_cut_before_done_is_retried_then_stream_interrupted(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    cut = chat_stream(chat_body(), done=False)
    upstream = Upstream(
        lambda _: httpx.Response(200, content=cut, headers={"content-type": "text/event-stream"})
    )
    body = {**CHAT, "stream": True}
    batch = await fake_client.submit([batch_line("s", "/v1/chat/completions", body)])
    await drain(fake_redis, queue_name, upstream, max_attempts=2)
    assert len(upstream.calls) == 2
    assert (await batch.status()).errors_by_code == {"stream_interrupted": 1}


def test_stream_deltas_join_tool_calls_and_provider_fields() -> None:
    import asyncio

    from respq.worker.chat_stream import final_chat_completion

    def chunk(delta: dict[str, Any], reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return "data: " + orjson.dumps({"id": "c", "created": 1, "choices": [choice]}).decode()

    lines_ = [
        chunk({"role": "assistant", "reasoning_content": "Let me "}),
        chunk({"reasoning_content": "think."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a"'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        chunk({}, "tool_calls"),
        "data: [DONE]",
    ]

    async def go() -> dict[str, Any]:
        async def source() -> Any:
            for text in lines_:
                yield text
                yield ""

        return await final_chat_completion(source(), "req")

    final = asyncio.run(go())
    (choice,) = final["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["reasoning_content"] == "Let me think." and message["content"] is None
    assert message["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    ChatCompletion.model_validate({**final, "model": "m"})


async def test_a_batch_keeps_its_endpoint_on_resubmit(fake_client: BatchClient) -> None:
    batch = await fake_client.submit(
        [batch_line("a", "/v1/embeddings", {"model": "e", "input": "x"})]
    )
    assert await fake_client.redis.hget(BatchKeys(batch.id).meta, "endpoint") == b"/v1/embeddings"
    with pytest.raises(BatchStateError, match="targets /v1/embeddings"):
        await fake_client.submit([batch_line("b", "/v1/chat/completions", CHAT)], batch_id=batch.id)
    assert await fake_client.redis.hlen(BatchKeys(batch.id).req) == 1


def test_budgets_price_embeddings_by_input_only() -> None:
    from respq.contract.endpoints import CHAT_COMPLETIONS, EMBEDDINGS
    from respq.contract.prices import PriceTable

    prices = PriceTable.from_mapping({"e": {"input": 1.0, "output": 1000.0}})
    body = {"input": "a" * 4000}
    cost = estimate_cost(prices, "e", body, default_max_output_tokens=4096, endpoint=EMBEDDINGS)
    assert cost == pytest.approx(1000 / 1e6)
    chat = {"messages": [{"role": "user", "content": "a" * 40}], "max_tokens": 10, "n": 2}
    cost = estimate_cost(prices, "e", chat, default_max_output_tokens=1, endpoint=CHAT_COMPLETIONS)
    assert cost == pytest.approx((14 + 20 * 1000) / 1e6)


def test_a_chat_success_is_read_liberally() -> None:
    from respq.contract.endpoints import CHAT_COMPLETIONS

    minimal = {"choices": [{"message": {"content": "x"}}]}
    answer = parse_success(200, None, minimal, httpx.Headers(), CHAT_COMPLETIONS)
    assert answer.body is minimal and answer.facts.usage.total_tokens == 0
    assert is_success({"response": {"status_code": 200, "body": minimal}, "error": None})


async def test_the_audit_counts_usage_as_the_batch_endpoint_does(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    """A moderation provider that adds usage, and an embedding one that adds completion
    tokens: neither is counted, by the worker nor by the audit that checks it."""
    from respq.contract.audit import Auditor

    extra = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    for url, request, answer in (
        ("/v1/moderations", {"input": "x"}, {**moderation_body(), "usage": extra}),
        ("/v1/embeddings", {"model": "e", "input": "x"}, {**embedding_body(), "usage": extra}),
    ):
        upstream = Upstream(lambda _, answer=answer: httpx.Response(200, json=answer))
        batch = await fake_client.submit([batch_line("a", url, request)])
        await drain(fake_redis, queue_name, upstream)
        audit = await Auditor(fake_redis, queue_name=queue_name).counters(batch.id)
        assert audit.drift == {}, url
        assert (await batch.status()).usage.output_tokens == 0

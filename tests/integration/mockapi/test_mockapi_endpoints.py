"""mockapi serves every endpoint of the Batch API the way it serves Responses: bodies the
official openai SDK reads (plain and streamed), in every provider style, under the same
rate limits and failure injection."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import openai.types as sdk
import orjson
import pytest
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from respq.mockapi import MockConfig, MockServer
from respq.mockapi.styles import STYLES
from respq.mockapi.vectors import build_embeddings, vector

HEADERS = {"Authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "Hello there"}]}
REQUESTS: list[tuple[str, dict[str, Any], type[BaseModel]]] = [
    ("/chat/completions", CHAT, ChatCompletion),
    (
        "/embeddings",
        {"model": "text-embedding-3-small", "input": ["a b", "c"]},
        sdk.CreateEmbeddingResponse,
    ),
    ("/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say"}, sdk.Completion),
    ("/moderations", {"input": "I will attack"}, sdk.ModerationCreateResponse),
    ("/images/generations", {"prompt": "a lighthouse", "n": 2}, sdk.ImagesResponse),
    (
        "/images/edits",
        {"prompt": "bluer", "images": [{"image_url": "https://i/1.png"}]},
        sdk.ImagesResponse,
    ),
]


@pytest.fixture(scope="module")
def srv() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="sk-test", seed=3)) as server:
        yield server


@pytest.fixture
def client(srv: MockServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)


def post(srv: MockServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(srv.base_url + path, json=body, headers=HEADERS)


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize(("path", "body", "kind"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_every_endpoint_answers_the_sdk_type_in_every_style(
    srv: MockServer, style: str, path: str, body: dict[str, Any], kind: type[BaseModel]
) -> None:
    srv.control(style=style)
    try:
        answer = post(srv, path, body)
        assert answer.status_code == 200, answer.text
        kind.model_validate(answer.json())
    finally:
        srv.control(style="seed")
    for spelling in ("/v1", "/api/v1", ""):
        url = srv.url + spelling + path
        assert httpx.post(url, json=body, headers=HEADERS).status_code == 200


def test_the_sdk_calls_each_endpoint(client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(
        model="gpt-5.4", messages=[{"role": "user", "content": "Hi"}], n=2
    )
    assert [c.message.content for c in chat.choices] == ["Echo: Hi"] * 2
    assert chat.usage is not None and chat.usage.completion_tokens == 2 * 2
    cut = client.chat.completions.create(
        model="gpt-5.4", messages=[{"role": "user", "content": "Hi" * 40}], max_completion_tokens=3
    )
    assert cut.choices[0].finish_reason == "length"
    # The SDK asks for base64 and decodes it: the same floats as the plain answer.
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["x", "y"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 1536
    small = client.embeddings.create(model="text-embedding-3-large", input="x", dimensions=8)
    assert len(small.data[0].embedding) == 8
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say").choices[0].text
    verdict = client.moderations.create(input=["a kind word", "I will attack"])
    assert [r.flagged for r in verdict.results] == [False, True]
    images = client.images.generate(prompt="a lighthouse", quality="low", size="1536x1024", n=2)
    assert images.data is not None and len(images.data) == 2
    assert base64.b64decode(images.data[0].b64_json or "").startswith(b"\x89PNG")
    assert images.usage is not None and images.usage.output_tokens == 2 * 408
    linked = client.images.generate(prompt="x", response_format="url")
    assert linked.data is not None and (linked.data[0].url or "").startswith("https://")


def test_embeddings_are_deterministic_float32_and_base64_matches(srv: MockServer) -> None:
    body = {"model": "text-embedding-3-small", "input": "same text"}
    first = post(srv, "/embeddings", body).json()["data"][0]["embedding"]
    assert first == post(srv, "/embeddings", body).json()["data"][0]["embedding"]
    assert all(struct.unpack("<f", struct.pack("<f", x))[0] == x for x in first)
    assert abs(sum(x * x for x in first) - 1) < 1e-3
    encoded = post(srv, "/embeddings", {**body, "encoding_format": "base64"}).json()
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(first)}f", raw)) == first
    other = post(srv, "/embeddings", {**body, "input": "other text"}).json()
    assert other["data"][0]["embedding"] != first


@pytest.mark.parametrize("dims", [1, 7, 1536])
def test_an_embedding_is_sliced_from_its_table_printed_once_and_is_its_vector(dims: int) -> None:
    # No number is made or printed per answer (the mock shares the benchmark's CPU), and
    # what goes out is still exactly the input's vector, as JSON numbers or base64.
    for i in range(100):
        item: Any = f"text {i}" if i % 2 else [i, 7]
        body = {"model": "text-embedding-3-small", "input": [item], "dimensions": dims}
        sent = build_embeddings(body, "text-embedding-3-small", 1, "")["data"][0]["embedding"]
        assert isinstance(sent, orjson.Fragment)
        assert orjson.dumps(sent) == orjson.dumps(vector(item, dims))
        as_base64 = build_embeddings({**body, "encoding_format": "base64"}, "m", 1, "")
        packed = base64.b64decode(as_base64["data"][0]["embedding"])
        assert packed == struct.pack(f"<{dims}f", *vector(item, dims))


def test_a_streamed_chat_reads_as_chunks_and_adds_up_to_the_plain_answer(
    client: openai.OpenAI,
) -> None:
    messages: Any = [{"role": "user", "content": "Stream me please"}]
    plain = client.chat.completions.create(model="gpt-5.4", messages=messages)
    text = ""
    usage = None
    for chunk in client.chat.completions.create(
        model="gpt-5.4", messages=messages, stream=True, stream_options={"include_usage": True}
    ):
        for choice in chunk.choices:
            text += choice.delta.content or ""
        usage = chunk.usage or usage
    assert text == plain.choices[0].message.content
    assert usage is not None and usage.total_tokens == plain.usage.total_tokens  # type: ignore[union-attr]
    pieces = list(
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say", stream=True)
    )
    assert "".join(p.choices[0].text for p in pieces if p.choices) == "Echo: Say"


def test_rate_limits_and_failures_apply_to_every_endpoint(srv: MockServer) -> None:
    srv.reset()
    srv.control(rpm=2)
    try:
        statuses = [post(srv, path, body).status_code for path, body, _ in REQUESTS]
        assert statuses == [200, 200] + [429] * (len(REQUESTS) - 2)
    finally:
        srv.control(rpm=0)
    srv.control(fail_rate=1.0, fail_mix="500")
    try:
        for path, body, _ in REQUESTS:
            answer = post(srv, path, body)
            assert answer.status_code == 500 and answer.json()["error"]["type"] == "server_error"
        srv.control(fail_mix="truncated")
        cut = post(srv, "/embeddings", REQUESTS[1][1])
        assert cut.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(cut.content)
    finally:
        srv.control(fail_rate=0.0)
    log = srv.stats()["request_log"]
    assert {entry["path"] for entry in log} >= {"/chat/completions", "/embeddings"}


def test_bad_requests_are_refused_as_openai_would(srv: MockServer) -> None:
    assert post(srv, "/chat/completions", {"model": "gpt-5.4", "messages": []}).status_code == 400
    assert post(srv, "/embeddings", {"model": "text-embedding-3-small"}).status_code == 400
    missing = post(srv, "/embeddings", {"model": "nope", "input": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert post(srv, "/moderations", {"input": "x", "model": "nope"}).status_code == 404
    no_prompt = post(srv, "/images/generations", {"n": 1})
    assert no_prompt.status_code == 400 and no_prompt.json()["error"]["param"] == "prompt"
    assert post(srv, "/images/generations", {"prompt": "p", "n": 0}).status_code == 400
    assert post(srv, "/images/edits", {"prompt": "p", "images": []}).status_code == 400
    assert httpx.post(srv.base_url + "/chat/completions", json=CHAT).status_code == 401

"""The official openai SDK talks to mockapi: bodies validate, plain and streamed calls work."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseCompletedEvent

from respq.mockapi import MockConfig, MockServer

from helpers.sdk_types import sdk_validate, unknown_fields


@pytest.fixture(scope="module")
def srv() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="sk-test")) as server:
        yield server


@pytest.fixture
def client(srv: MockServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)


HEADERS = {"Authorization": "Bearer sk-test"}
# The fields mockapi sends that the SDK's Response type lacks: ``store``, which OpenAI's API
# returns on every Response, and ``output_text``, an SDK property that mockapi also sends
# for clients that read it from the JSON. Nothing else may go beyond the type.
BEYOND_THE_SDK = frozenset({"$.store", "$.output_text"})


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"instructions": "Be brief.", "temperature": 0.3, "top_p": 0.9, "metadata": {"a": "b"}},
        {"max_output_tokens": 2},
        {"text": {"format": {"type": "json_object"}}},
        {"tools": [{"type": "function", "name": "f", "parameters": {}}], "tool_choice": "auto"},
        {"reasoning": {"effort": "medium"}, "user": "u1", "truncation": "auto"},
    ],
)
def test_model_validate_plain_bodies(srv: MockServer, extra: dict[str, object]) -> None:
    body = {"model": "gpt-4.1", "input": "Validate me.", **extra}
    r = httpx.post(srv.base_url + "/responses", json=body, headers=HEADERS)
    assert r.status_code == 200
    body = r.json()
    response = sdk_validate(Response, body, allow=BEYOND_THE_SDK)
    assert response.output_text == body["output_text"]
    cut = extra.get("max_output_tokens") == 2  # too few tokens for the answer: incomplete
    assert response.model == body["model"]
    assert response.status == ("incomplete" if cut else "completed")


def test_model_validate_json_schema(srv: MockServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}
    body = {"model": "gpt-4.1", "input": "x", "text": {"format": fmt}}
    r = httpx.post(srv.base_url + "/responses", json=body, headers=HEADERS)
    response = sdk_validate(Response, r.json(), allow=BEYOND_THE_SDK)
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"


def test_the_strict_check_sees_a_field_the_sdk_does_not_define(srv: MockServer) -> None:
    body = httpx.post(
        srv.base_url + "/responses", json={"model": "gpt-4.1", "input": "x"}, headers=HEADERS
    ).json()
    body["usage"]["made_up"] = 1
    assert "$.usage.made_up" in set(unknown_fields(Response.model_validate(body)))
    with pytest.raises(AssertionError, match=r"\$\.usage\.made_up"):
        sdk_validate(Response, body, allow=BEYOND_THE_SDK)


async def test_sdk_create(client: openai.AsyncOpenAI) -> None:
    async with client:
        response = await client.responses.create(
            model="gpt-5.4", input="Hello SDK", instructions="Be nice.", metadata={"k": "v"}
        )
    assert response.status == "completed"
    assert response.output_text.startswith("Echo: ")
    assert response.usage is not None
    assert response.usage.total_tokens > 0
    assert response.metadata == {"k": "v"}


async def test_sdk_create_stream(client: openai.AsyncOpenAI) -> None:
    async with client:
        stream = await client.responses.create(model="gpt-5.4", input="Stream it", stream=True)
        events = [event async for event in stream]
    assert events[0].type == "response.created"
    last = events[-1]
    assert isinstance(last, ResponseCompletedEvent)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert last.response.output_text == deltas
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_sdk_stream_helper(client: openai.AsyncOpenAI) -> None:
    async with client, client.responses.stream(model="o4-mini", input="helper") as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[-1] == "response.completed"
    assert final.output_text.startswith("Echo: helper")


async def test_sdk_errors(client: openai.AsyncOpenAI, srv: MockServer) -> None:
    async with client:
        with pytest.raises(openai.NotFoundError) as not_found:
            await client.responses.create(model="gpt-0", input="x")
        assert not_found.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError):
            await client.responses.create(model="gpt-5.4", input="x", temperature=3)
    bad_key = openai.AsyncOpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0)
    async with bad_key:
        with pytest.raises(openai.AuthenticationError) as denied:
            await bad_key.responses.create(model="gpt-5.4", input="x")
    assert denied.value.code == "invalid_api_key"


async def test_sdk_previous_response(client: openai.AsyncOpenAI) -> None:
    async with client:
        first = await client.responses.create(model="gpt-5.4", input="one")
        second = await client.responses.create(
            model="gpt-5.4", input="two", previous_response_id=first.id
        )
        fetched = await client.responses.retrieve(first.id)
    assert second.previous_response_id == first.id
    assert fetched.id == first.id

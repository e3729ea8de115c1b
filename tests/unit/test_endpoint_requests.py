"""The request models of chat completions, embeddings, completions and moderations: the
bounds of OpenAI's API reference, well-formed messages and parts, unknown fields kept."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from respq import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ModerationRequest,
)
from respq.contract.chat_request import ChatTool, FileRef, ResponseFormat
from respq.contract.endpoints import (
    CHAT_COMPLETIONS,
    COMPLETIONS,
    EMBEDDINGS,
    ENDPOINTS,
    MODERATIONS,
    RESPONSES,
    endpoint_for_url,
    endpoint_named,
)
from respq.contract.image_request import ImageEditRequest, ImageGenerationRequest
from respq.contract.request import InputFile, InputImage, TextFormat

USER = {"role": "user", "content": "Hi"}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-5.4", "messages": [USER], **fields}


def problem(model: type[BaseModel], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return str(info.value)


def test_every_spelling_of_each_endpoint_names_it() -> None:
    assert list(ENDPOINTS) == [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/completions",
        "/v1/moderations",
        "/v1/images/generations",
        "/v1/images/edits",
    ]
    for endpoint in ENDPOINTS.values():
        short = endpoint.url.removeprefix("/v1")
        for url in (endpoint.url, short, "/api/v1" + short):
            assert endpoint_for_url(url) is endpoint
    assert endpoint_for_url("/v1/chat") is None
    assert endpoint_named(None) is RESPONSES and endpoint_named("") is RESPONSES
    with pytest.raises(ValueError, match=r"Videos API shut down .* use one of .*/v1/images/edits"):
        endpoint_named("/v1/videos")
    with pytest.raises(ValueError, match=r"'/v1/audio' is not supported; use one of /v1/resp"):
        endpoint_named("/v1/audio")


def test_a_full_chat_request_is_accepted_and_sent_as_written() -> None:
    body = chat(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Plain words."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                    {"type": "file", "file": {"file_id": "file-1"}},
                ],
                "name": "ann",
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ],
        max_completion_tokens=64,
        max_tokens=64,
        n=2,
        temperature=0,
        top_p=1,
        frequency_penalty=-2,
        presence_penalty=2,
        logit_bias={"50256": -100},
        logprobs=True,
        top_logprobs=20,
        seed=7,
        stop=["a", "b", "c", "d"],
        stream=True,
        stream_options={"include_usage": True},
        tools=[{"type": "function", "function": {"name": "f_1", "parameters": {}}}],
        tool_choice="auto",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
        },
        reasoning_effort="low",
        metadata={"team": "x"},
        store=False,
        vendor_knob={"kept": True},
    )
    request = ChatCompletionRequest.model_validate(body)
    assert request.body() == body


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role must be one of"),
        ({"messages": [{"role": "user"}]}, "content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "part's type"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "url",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": "ftp://x"}]}
                ]
            },
            "image_url",
        ),
        ({"messages": [{"role": "assistant", "content": [{"type": "image_url"}]}]}, "refusal"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"n": 129}, "n"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"frequency_penalty": 3}, "frequency_penalty"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"logit_bias": {"1": 101}}, "logit_bias"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"tools": [{"type": "function"}]}, "function"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "name"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"response_format": {"type": "json_schema"}}, "json_schema"),
        ({"temperature": "1"}, "temperature"),
    ],
)
def test_bad_chat_requests_name_the_field(fields: dict[str, Any], needle: str) -> None:
    assert needle in problem(ChatCompletionRequest, chat(**fields))


def test_embedding_inputs_of_every_shape_within_openai_bounds() -> None:
    for value in ("a", ["a", "b"], [1, 2, 3], [[1, 2], [3]], ["x"] * 2048):
        assert EmbeddingRequest.model_validate({"model": "e", "input": value}).input == value
    body = {"model": "e", "input": "a", "dimensions": 256, "encoding_format": "base64", "x": 1}
    assert EmbeddingRequest.model_validate(body).body() == body
    for value, needle in (
        ("", "empty"),
        ([], "empty"),
        (["a", ""], "empty"),
        ([[1], []], "empty"),
        (["x"] * 2049, "at most 2048"),
        ([1, "a"], "input"),
        ([True], "input"),
    ):
        assert needle in problem(EmbeddingRequest, {"model": "e", "input": value})
    assert "dimensions" in problem(EmbeddingRequest, {"model": "e", "input": "a", "dimensions": 0})
    bad_format = {"model": "e", "input": "a", "encoding_format": "int8"}
    assert "encoding_format" in problem(EmbeddingRequest, bad_format)
    assert "model" in problem(EmbeddingRequest, {"input": "a"})


def test_completion_and_moderation_bounds() -> None:
    body = {"model": "c", "prompt": ["a", "b"], "max_tokens": 0, "n": 2, "best_of": 3, "echo": True}
    assert CompletionRequest.model_validate(body).body() == body
    assert "prompt" in problem(CompletionRequest, {"model": "c"})
    assert "best_of" in problem(
        CompletionRequest, {"model": "c", "prompt": "a", "n": 3, "best_of": 2}
    )
    assert "logprobs" in problem(CompletionRequest, {"model": "c", "prompt": "a", "logprobs": 6})
    parts = [
        {"type": "text", "text": "x"},
        {"type": "image_url", "image_url": {"url": "https://i"}},
    ]
    for value in ("a", ["a", "b"], parts):
        assert ModerationRequest.model_validate({"input": value}).body() == {"input": value}
    assert "empty" in problem(ModerationRequest, {"input": ""})
    assert "part's type" in problem(ModerationRequest, {"input": [{"type": "audio"}]})


def test_each_endpoint_knows_its_success_and_what_is_not_one() -> None:
    chat_body = {"object": "chat.completion", "choices": []}
    embedding = {"object": "list", "data": [{"embedding": [0.1]}]}
    moderation = {"id": "modr-1", "results": []}
    assert CHAT_COMPLETIONS.is_success(chat_body) and COMPLETIONS.is_success(chat_body)
    assert EMBEDDINGS.is_success(embedding) and MODERATIONS.is_success(moderation)
    for endpoint, other in (
        (CHAT_COMPLETIONS, embedding),
        (EMBEDDINGS, chat_body),
        (MODERATIONS, embedding),
        (RESPONSES, chat_body),
    ):
        assert not endpoint.is_success(other)
        assert not endpoint.is_success([1])


def test_usage_is_read_per_endpoint() -> None:
    chat_usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    facts = CHAT_COMPLETIONS.facts(
        {"id": "chatcmpl-1", "choices": [{"finish_reason": "length"}], "usage": chat_usage}
    )
    assert facts.usage.as_tuple() == (10, 5, 15, 4, 2)
    assert facts.incomplete and facts.id == "chatcmpl-1"
    assert not COMPLETIONS.facts({"choices": [{"finish_reason": "stop"}]}).incomplete
    embedded = EMBEDDINGS.facts({"data": [], "usage": {"prompt_tokens": 8, "total_tokens": 8}})
    assert embedded.usage.as_tuple() == (8, 0, 8, 0, 0)
    moderated = MODERATIONS.facts({"results": [], "usage": {"prompt_tokens": 3}})
    assert moderated.usage.as_tuple() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("model", "value", "message"),
    [
        (InputImage, {"type": "input_image"}, "input_image needs image_url or file_id"),
        (InputFile, {"type": "input_file"}, "input_file needs file_url, file_id or file_data"),
        (TextFormat, {"type": "json_schema"}, "text.format of type json_schema needs a schema"),
        (FileRef, {"filename": "a.pdf"}, "a file part needs file_data or file_id"),
        (ChatTool, {"type": "function"}, "a function tool needs a function object"),
        (ResponseFormat, {"type": "json_schema"}, "json_schema needs a json_schema object"),
    ],
)
def test_a_part_without_what_it_needs_is_refused_saying_what_is_missing(
    model: type[BaseModel], value: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(value)


@pytest.mark.parametrize(
    ("model", "value"),
    [
        (InputImage, {"type": "input_image", "file_id": "file-1"}),
        (InputFile, {"type": "input_file", "file_data": "data:application/pdf;base64,AA=="}),
        (TextFormat, {"type": "text"}),
        (FileRef, {"file_id": "file-1"}),
        (ChatTool, {"type": "custom", "custom": {"name": "x"}}),
        (ResponseFormat, {"type": "json_object"}),
    ],
)
def test_a_part_with_one_of_what_it_needs_or_of_another_type_passes(
    model: type[BaseModel], value: dict[str, Any]
) -> None:
    assert model.model_validate(value).model_dump(by_alias=True, exclude_none=True) == value


def test_image_requests_within_openai_bounds_are_sent_as_written() -> None:
    body = {"prompt": "a lighthouse", "n": 10, "size": "2048x2048", "quality": "xhigh"}
    body |= {"output_compression": 0, "partial_images": 3, "vendor_knob": True}
    assert ImageGenerationRequest.model_validate(body).body() == body
    refs = [{"image_url": "https://i/1.png"}, {"file_id": "file-2"}]
    edit = {"prompt": "p", "images": refs, "mask": {"image_url": "data:image/png;base64,AA=="}}
    assert ImageEditRequest.model_validate(edit).body() == edit


@pytest.mark.parametrize(
    ("model", "fields", "needle"),
    [
        (ImageGenerationRequest, {"prompt": ""}, "prompt"),
        (ImageGenerationRequest, {"prompt": "a" * 32_001}, "prompt"),
        (ImageGenerationRequest, {"model": "gpt-image-1.5"}, "prompt"),
        (ImageGenerationRequest, {"prompt": "p", "n": 11}, "n"),
        (ImageGenerationRequest, {"prompt": "p", "output_compression": 101}, "output_compression"),
        (ImageGenerationRequest, {"prompt": "p", "partial_images": 4}, "partial_images"),
        (ImageGenerationRequest, {"prompt": "p", "stream": True}, "stream"),
        (ImageGenerationRequest, {"prompt": "p", "background": "clear"}, "background"),
        (ImageEditRequest, {"prompt": "p"}, "images"),
        (ImageEditRequest, {"prompt": "p", "images": []}, "images"),
        (ImageEditRequest, {"prompt": "p", "images": [{"file_id": "f"}] * 17}, "images"),
        (ImageEditRequest, {"prompt": "p", "images": [{}]}, "needs image_url or file_id"),
        (
            ImageEditRequest,
            {"prompt": "p", "images": [{"image_url": "https://i", "file_id": "f"}]},
            "not both",
        ),
        (ImageEditRequest, {"prompt": "p", "images": [{"image_url": "ftp://i"}]}, "image_url"),
        (ImageEditRequest, {"prompt": "p", "images": [{"file_id": "f"}], "mask": {}}, "mask"),
    ],
)
def test_bad_image_requests_name_the_field(
    model: type[BaseModel], fields: dict[str, Any], needle: str
) -> None:
    assert needle in problem(model, fields)

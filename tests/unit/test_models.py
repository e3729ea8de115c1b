"""The job contract: every request field and bound of the provider's page."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from respq import Response, ResponsesRequest


def ok(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "gpt-5.4", **fields})


def bad(**fields: Any) -> str:
    with pytest.raises(ValidationError) as info:
        ResponsesRequest.model_validate({"model": "gpt-5.4", **fields})
    return str(info.value)


def test_model_is_required_and_bounded() -> None:
    with pytest.raises(ValidationError, match="model"):
        ResponsesRequest.model_validate({"input": "hi"})
    assert "at least 1" in bad(model="")
    assert "at most 128" in bad(model="m" * 129)
    assert ok(model="m" * 128).model == "m" * 128


@pytest.mark.parametrize(
    ("field", "good", "wrong"),
    [
        ("max_output_tokens", 1, 0),
        ("temperature", 2, 2.01),
        ("temperature", 0, -0.1),
        ("top_p", 1, 1.5),
        ("top_p", 0, -1),
        ("prompt_cache_retention", "24h", "1h"),
        ("prompt_cache_retention", "in-memory", "disk"),
        ("stream", True, "yes please"),
        ("parallel_tool_calls", False, "x"),
        ("metadata", {"a": "b"}, "not-an-object"),
        ("tools", [{"type": "file_search"}], {"type": "x"}),
    ],
)
def test_bounds(field: str, good: Any, wrong: Any) -> None:
    assert getattr(ok(**{field: good}), field) is not None
    assert field in bad(**{field: wrong})


def test_every_documented_field_is_accepted() -> None:
    request = ok(
        input="Write a caption.",
        instructions="Be concise.",
        stream=False,
        store=True,
        previous_response_id="resp_abc123",
        metadata={"team": "x"},
        max_output_tokens=512,
        temperature=0.7,
        top_p=1,
        user="user_123",
        prompt_cache_key="k",
        prompt_cache_retention="24h",
        reasoning={"effort": "medium"},
        text={"format": {"type": "json_object"}},
        tools=[{"type": "file_search", "vector_store_ids": ["vs_123"]}],
        tool_choice="auto",
        parallel_tool_calls=True,
        truncation="auto",
    )
    body = request.body()
    assert body["reasoning"] == {"effort": "medium"}
    assert body["text"] == {"format": {"type": "json_object"}}
    assert "service_tier" not in body  # only what the user set is sent


def test_unknown_fields_pass_through_unchanged() -> None:
    body = ok(input="hi", service_tier="flex", custom={"nested": [1, 2]}).body()
    assert body["service_tier"] == "flex"
    assert body["custom"] == {"nested": [1, 2]}


def test_message_input_with_parts() -> None:
    request = ok(
        input=[
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe this."},
                    {"type": "input_image", "image_url": "https://example.com/a.jpg"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                    {"type": "input_file", "file_url": "https://example.com/a.pdf"},
                ],
            },
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ]
    )
    assert request.body()["input"][2]["type"] == "function_call_output"


@pytest.mark.parametrize(
    ("part", "needle"),
    [
        ({"type": "input_image", "image_url": "ftp://x/y.png"}, "image_url"),
        ({"type": "input_image"}, "image_url or file_id"),
        ({"type": "input_file"}, "file_url"),
        ({"type": "input_text"}, "text"),
        ({"type": "input_text", "text": 5}, "text"),
    ],
)
def test_bad_content_parts_name_the_field(part: dict[str, Any], needle: str) -> None:
    assert needle in bad(input=[{"role": "user", "content": [part]}])


def test_bad_role_and_json_schema_without_schema() -> None:
    assert "role" in bad(input=[{"role": "robot", "content": "x"}])
    assert "schema" in bad(text={"format": {"type": "json_schema", "name": "t"}})


def test_response_derives_output_text_and_reads_usage() -> None:
    response = Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": "gpt-5.4",
            "output": [
                {"type": "reasoning", "summary": []},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [
                        {"type": "output_text", "text": "Hello "},
                        {"type": "output_text", "text": "world"},
                    ],
                },
            ],
            "usage": {
                "input_tokens": 18,
                "output_tokens": 14,
                "total_tokens": 32,
                "input_tokens_details": {"cached_tokens": 3},
                "output_tokens_details": {"reasoning_tokens": 4},
            },
            "service_tier": "default",
        }
    )
    assert response.output_text == "Hello world"
    assert response.usage is not None
    assert (response.usage.cached_tokens, response.usage.reasoning_tokens) == (3, 4)
    assert response.model_extra == {"service_tier": "default"}


def test_response_keeps_provider_output_text() -> None:
    response = Response.model_validate({"id": "r", "output": [], "output_text": "given"})
    assert response.output_text == "given"


@pytest.mark.parametrize(
    ("field", "value"),
    [("stream", "yes"), ("store", 1), ("max_output_tokens", "5"), ("temperature", "0.5")],
)
def test_values_are_not_coerced(field: str, value: Any) -> None:
    # The body is sent as the user wrote it, so a value pydantic would coerce ("yes" →
    # True) would reach the provider unconverted: refuse it instead.
    assert field in bad(**{field: value})

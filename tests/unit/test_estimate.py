"""Token estimates before the call."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from respq.worker.estimate import FILE_TOKENS, IMAGE_TOKENS, MESSAGE_TOKENS, estimate_tokens


def est(body: dict[str, Any], default: int = 1000) -> int:
    return estimate_tokens(body, default_max_output_tokens=default)


def test_string_input_and_default_output() -> None:
    assert est({"model": "m", "input": "a" * 400}) == 100 + 1000


def test_max_output_tokens_wins_over_default() -> None:
    assert est({"input": "abcd", "max_output_tokens": 50}) == 1 + 50
    assert est({"input": "abcd", "max_output_tokens": None}, default=7) == 1 + 7


def test_instructions_and_messages() -> None:
    body = {
        "instructions": "x" * 40,
        "input": [
            {"role": "user", "content": "y" * 40},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "z" * 40},
                    {"type": "input_image", "image_url": "https://img.test/a.png"},
                    {"type": "input_file", "file_id": "file-1"},
                ],
            },
        ],
        "max_output_tokens": 0,
    }
    assert est(body) == 30 + 2 * MESSAGE_TOKENS + IMAGE_TOKENS + FILE_TOKENS


def test_tools_and_function_items_count_as_text() -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    body = {
        "input": [
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"a": 1}'},
            {"type": "function_call_output", "call_id": "c", "output": "sunny"},
        ],
        "tools": tools,
        "max_output_tokens": 0,
    }
    tool_chars = len(json.dumps(tools, separators=(",", ":")))
    assert est(body) == math.ceil((tool_chars + len('{"a": 1}') + len("sunny")) / 4)


def test_non_ascii_counts_one_token_per_character() -> None:
    assert est({"input": "你好世界", "max_output_tokens": 0}) == 4
    assert est({"input": "abcd你好", "max_output_tokens": 0}) == 1 + 2


def test_empty_body() -> None:
    assert est({}, default=256) == 256


@pytest.mark.parametrize("size", [1_000_000])
def test_large_body_is_fast(size: int) -> None:
    import time

    body = {"input": [{"role": "user", "content": "word " * (size // 5)}] * 20}
    began = time.perf_counter()
    assert est(body, default=0) == 20 * (size // 4 + MESSAGE_TOKENS)
    assert time.perf_counter() - began < 0.5

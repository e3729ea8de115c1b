"""Token estimates before the call."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from respq.contract.endpoints import (
    CHAT_COMPLETIONS,
    COMPLETIONS,
    EMBEDDINGS,
    IMAGE_EDITS,
    IMAGE_GENERATIONS,
    MODERATIONS,
)
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


def test_chat_counts_messages_tools_and_the_output_cap_of_every_choice() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "x" * 40},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "y" * 40},
                    {"type": "image_url", "image_url": {"url": "https://i"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "f", "arguments": "z" * 40}}],
            },
        ],
        "max_completion_tokens": 100,
        "max_tokens": 7,
        "n": 3,
    }
    chat = CHAT_COMPLETIONS.estimate
    assert chat(body, default_max_output_tokens=9) == 30 + 3 * MESSAGE_TOKENS + IMAGE_TOKENS + 300
    del body["max_completion_tokens"]
    assert chat(body, default_max_output_tokens=9) == 30 + 3 * MESSAGE_TOKENS + IMAGE_TOKENS + 21
    del body["max_tokens"], body["n"]
    assert chat(body, default_max_output_tokens=9) == 30 + 3 * MESSAGE_TOKENS + IMAGE_TOKENS + 9


def test_embeddings_and_moderations_charge_input_only() -> None:
    embed = EMBEDDINGS.estimate
    assert embed({"input": "a" * 400}, default_max_output_tokens=4096) == 100
    assert embed({"input": ["a" * 40, "b" * 40]}, default_max_output_tokens=4096) == 20
    assert embed({"input": [[1, 2, 3], [4]]}, default_max_output_tokens=4096) == 4
    assert embed({"input": [1, 2, 3]}, default_max_output_tokens=4096) == 3
    parts = [{"type": "text", "text": "a" * 40}, {"type": "image_url", "image_url": {}}]
    assert MODERATIONS.estimate({"input": parts}, default_max_output_tokens=9) == 10 + IMAGE_TOKENS
    assert MODERATIONS.estimate({"input": ["a" * 8]}, default_max_output_tokens=9) == 2


def test_completions_count_prompt_suffix_and_max_tokens_per_choice() -> None:
    body = {"prompt": ["a" * 40, "b" * 40], "suffix": "c" * 4, "max_tokens": 10, "best_of": 4}
    assert COMPLETIONS.estimate(body, default_max_output_tokens=9) == 21 + 40
    assert COMPLETIONS.estimate({"prompt": [[1, 2]]}, default_max_output_tokens=9) == 2 + 9


def test_images_charge_prompt_input_images_and_image_tokens_by_quality_and_size() -> None:
    generate = IMAGE_GENERATIONS.estimate
    low = {"prompt": "a" * 40, "quality": "low", "size": "1024x1024"}
    assert generate(low, default_max_output_tokens=9) == 10 + 272
    two_wide = {"prompt": "a" * 40, "quality": "medium", "size": "1536x1024", "n": 2}
    assert generate(two_wide, default_max_output_tokens=9) == 10 + 1584 * 2
    # auto quality counts as high, an auto or unreadable size as 1536x1024: an upper bound
    for size in ("auto", "big", None):
        assert generate({"prompt": "a" * 4, "size": size}, default_max_output_tokens=9) == 1 + 6240
    edit = {"prompt": "a" * 4, "images": [{"file_id": "f"}] * 2, "mask": {"file_id": "m"}}
    edit |= {"quality": "low", "size": "1024x1024"}
    assert IMAGE_EDITS.estimate(edit, default_max_output_tokens=9) == 1 + 3 * IMAGE_TOKENS + 272

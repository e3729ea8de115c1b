"""examples/batch.jsonl: every line validates, is an OpenAI batch line, uses served models
but one typo, and the lines cover the request shapes; and the small file of each other
endpoint (chat.jsonl, embeddings.jsonl, completions.jsonl, moderations.jsonl, images.jsonl,
image_edits.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from respq.mockapi.config import DEFAULT_MODELS
from respq.producer.jsonl_file import check_file
from respq.producer.validation import ItemPreparer

from helpers.endpoints import EXAMPLE_FILES, example
from helpers.paths import EXAMPLES

BATCH_FILE = EXAMPLES / "batch.jsonl"


def batch_lines() -> list[tuple[int, bytes]]:
    return [
        (lineno, raw)
        for lineno, raw in enumerate(BATCH_FILE.read_bytes().splitlines(), start=1)
        if raw.strip()
    ]


def bodies() -> list[dict[str, Any]]:
    return [json.loads(raw)["body"] for _, raw in batch_lines()]


# -- examples/batch.jsonl -----------------------------------------------------------------


def test_every_batch_line_validates() -> None:
    preparer = ItemPreparer()
    prepared = [preparer.add_line(raw, lineno) for lineno, raw in batch_lines()]
    assert preparer.problems == []
    assert all(item is not None for item in prepared)
    assert 15 <= len(prepared) <= 30


def test_batch_lines_are_openai_batch_lines() -> None:
    for _, raw in batch_lines():
        line = json.loads(raw)
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert line["method"] == "POST"
        assert line["url"] == "/v1/responses"


def test_batch_uses_served_models_plus_one_typo() -> None:
    models = [body["model"] for body in bodies()]
    unknown = [m for m in models if m not in DEFAULT_MODELS]
    assert unknown == ["gpt-typo"]
    assert len(set(models) - {"gpt-typo"}) >= 3


def test_batch_covers_the_request_shapes() -> None:
    found = bodies()

    def any_body(check: Callable[[dict[str, Any]], bool]) -> bool:
        return any(check(body) for body in found)

    def parts(body: dict[str, Any]) -> list[dict[str, Any]]:
        value = body.get("input")
        items: list[dict[str, Any]] = value if isinstance(value, list) else []
        return [
            p for item in items if isinstance(item.get("content"), list) for p in item["content"]
        ]

    assert any_body(lambda b: isinstance(b.get("input"), str) and "instructions" not in b)
    assert any_body(lambda b: "instructions" in b)
    assert any_body(lambda b: isinstance(b.get("input"), list) and "role" in b["input"][0])
    assert any_body(
        lambda b: any(
            p["type"] == "input_image" and p.get("image_url", "").startswith("https://")
            for p in parts(b)
        )
    )
    assert any_body(lambda b: (b.get("text") or {}).get("format", {}).get("type") == "json_schema")
    assert any_body(lambda b: "max_output_tokens" in b)
    assert any_body(lambda b: "metadata" in b)
    assert sum(1 for b in found if b.get("stream") is True) == 1


# -- one small batch file per endpoint ---------------------------------------------------


@pytest.mark.parametrize("url", list(EXAMPLE_FILES))
def test_each_endpoints_example_validates_as_a_batch_of_that_endpoint(url: str) -> None:
    path = EXAMPLE_FILES[url]
    with check_file(path) as checked:
        assert checked.endpoint.url == url and checked.requests >= 3
    lines = example(url)
    assert {line["url"] for line in lines} == {url}
    models = {line["body"].get("model", "omni-moderation-latest") for line in lines}
    assert models - {"gpt-typo"} <= set(DEFAULT_MODELS)

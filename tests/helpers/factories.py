"""What tests feed respq and what upstreams answer: batch lines and files, batch items,
Responses bodies, queue names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


def unique_queue(tag: str = "test") -> str:
    """A queue of its own, so tests never pick up each other's jobs."""
    return f"respq-{tag}:{uuid.uuid4().hex[:10]}"


def request_line(i: int, *, model: str = "gpt-5.4-mini", cid: str | None = None) -> bytes:
    """One OpenAI batch input line (custom_id ``req-<i>``)."""
    return orjson.dumps(
        {
            "custom_id": cid or f"req-{i}",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": model, "input": f"Say hello to number {i}", "max_output_tokens": 64},
        }
    )


def write_jsonl(path: Path, n: int, **kwargs: Any) -> Path:
    """A batch file of ``n`` request lines."""
    with path.open("wb") as handle:
        for i in range(n):
            handle.write(request_line(i, **kwargs) + b"\n")
    return path


# Batch lines with five problems: bad JSON, no model, a value out of bounds, a custom_id
# used twice (two lines) and a url that is not the Responses API.
BAD_LINES = [
    b"{not json",
    orjson.dumps(
        {"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {"input": "no model"}}
    ),
    orjson.dumps(
        {
            "custom_id": "hot",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "gpt-5.4", "input": "x", "temperature": 3},
        }
    ),
    request_line(1, cid="dup"),
    request_line(2, cid="dup"),
    orjson.dumps(
        {
            "custom_id": "wrong-url",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-5.4", "input": "x"},
        }
    ),
]


def tagged_items(
    n: int, prefix: str = "r", text: Callable[[int], str] = lambda i: f"q{i}", **body: Any
) -> list[dict[str, Any]]:
    """Batch items whose body (plus ``body``) carries the custom_id in metadata too, so
    mockapi's request_log tells which request each upstream send was."""
    return [
        {
            "custom_id": f"{prefix}{i}",
            "body": {
                "model": "gpt-5.4",
                "input": text(i),
                "metadata": {"custom_id": f"{prefix}{i}"},
                **body,
            },
        }
        for i in range(n)
    ]


def response_body(
    text: str = "ok", *, model: str = "gpt-5.4", tokens: tuple[int, int] = (5, 7)
) -> dict[str, Any]:
    """A minimal Responses API body in the seed's shape."""
    return {
        "id": "resp_test",
        "object": "response",
        "created_at": 1772294400,
        "status": "completed",
        "model": model,
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            }
        ],
        "output_text": text,
        "usage": {
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": tokens[0] + tokens[1],
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens_details": {"reasoning_tokens": 2},
        },
    }

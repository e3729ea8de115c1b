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


def items(
    n: int,
    *,
    cid: str | None = None,
    text: str | Callable[[int], str] = "q",
    model: str = "gpt-5.4",
    **body: Any,
) -> list[dict[str, Any]]:
    """``n`` batch items: bare request bodies (respq names them ``line-<n>``), or with
    ``cid`` items whose custom_id is ``cid`` and the index. Each input is ``text`` and the
    index (``text(i)`` when it is a function); ``body`` adds fields to every body."""
    say = text if callable(text) else lambda i: f"{text}{i}"
    bodies = [{"model": model, "input": say(i), **body} for i in range(n)]
    if cid is None:
        return bodies
    return [{"custom_id": f"{cid}{i}", "body": one} for i, one in enumerate(bodies)]


def tagged_items(
    n: int, prefix: str = "r", text: Callable[[int], str] = lambda i: f"q{i}", **body: Any
) -> list[dict[str, Any]]:
    """Batch items whose body (plus ``body``) carries the custom_id in metadata too, so
    mockapi's request_log tells which request each upstream send was."""
    tagged = items(n, cid=prefix, text=text, **body)
    for item in tagged:
        item["body"]["metadata"] = {"custom_id": item["custom_id"]}
    return tagged


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


def chat_body(
    text: str = "ok", *, model: str = "gpt-5.4", tokens: tuple[int, int] = (5, 7)
) -> dict[str, Any]:
    """A ``chat.completion`` as OpenAI sends it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1772294400,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": tokens[0] + tokens[1],
            "prompt_tokens_details": {"cached_tokens": 1, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_test",
    }


def embedding_body(
    vectors: int = 1, *, dims: int = 8, model: str = "text-embedding-3-small", tokens: int = 4
) -> dict[str, Any]:
    """A ``list`` of embeddings as OpenAI sends it: float32 values, printed as float64."""
    import struct

    def f32(x: float) -> float:
        value: float = struct.unpack("<f", struct.pack("<f", x))[0]
        return value

    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": [f32(((i * dims + j) % 97 - 48) / 997) for j in range(dims)],
            }
            for i in range(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def completion_body(text: str = "ok", *, model: str = "gpt-3.5-turbo-instruct") -> dict[str, Any]:
    """A legacy ``text_completion``."""
    return {
        "id": "cmpl-test",
        "object": "text_completion",
        "created": 1772294400,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def moderation_body(*, model: str = "omni-moderation-latest") -> dict[str, Any]:
    """A moderation as OpenAI sends it (no usage)."""
    categories = [
        "harassment",
        "harassment/threatening",
        "hate",
        "hate/threatening",
        "illicit",
        "illicit/violent",
        "self-harm",
        "self-harm/instructions",
        "self-harm/intent",
        "sexual",
        "sexual/minors",
        "violence",
        "violence/graphic",
    ]
    return {
        "id": "modr-test",
        "model": model,
        "results": [
            {
                "flagged": False,
                "categories": dict.fromkeys(categories, False),
                "category_scores": dict.fromkeys(categories, 0.0001),
                "category_applied_input_types": {c: ["text"] for c in categories},
            }
        ],
    }


def chat_stream(body: dict[str, Any], *, done: bool = True, usage: bool = True) -> bytes:
    """``body`` (a chat.completion) as its SSE chunks: a role delta, the content in pieces,
    the finish reason, then the usage chunk and ``[DONE]``."""
    top = {k: v for k, v in body.items() if k not in ("object", "choices", "usage")}

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        data = {**top, "object": "chat.completion.chunk", "choices": choices, **extra}
        return b"data: " + orjson.dumps(data) + b"\n\n"

    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    text = body["choices"][0]["message"]["content"]
    for i in range(0, len(text), 3):
        events.append(chunk([{"index": 0, "delta": {"content": text[i : i + 3]}}]))
    reason = body["choices"][0]["finish_reason"]
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": reason}]))
    if usage:
        events.append(chunk([], usage=body["usage"]))
    if done:
        events.append(b"data: [DONE]\n\n")
    return b"".join(events)

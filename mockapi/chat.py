"""Chat Completions and legacy Completions answers: the same deterministic text as the
Responses mock (``Echo: `` plus the input's end), in OpenAI's ``chat.completion`` and
``text_completion`` shapes, plain or as a stream of chunks ending in ``[DONE]``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson

from .generate import (
    IMAGE_TOKENS,
    SNIPPET_CHARS,
    _part_text,
    count_tokens,
    echo_text,
    new_id,
    value_for_schema,
)

JSON = dict[str, Any]
CHUNK_CHARS = 4  # one mock token per delta
MESSAGE_TOKENS = 4  # framing of each message, as chat formats add


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def choices_of(body: JSON) -> int:
    return max(_whole(body.get("n")) or 1, 1)


def read_messages(body: JSON) -> tuple[str, int]:
    """(the messages' text joined, input tokens) of a chat request."""
    texts: list[str] = []
    extra = 0
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        extra += MESSAGE_TOKENS
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    extra += IMAGE_TOKENS
                else:
                    extra += _part_text(part, texts)
    return "\n".join(texts), count_tokens(sum(len(t) for t in texts)) + extra


def read_prompt(body: JSON) -> tuple[str, int]:
    """(the prompt's text, input tokens) of a legacy completion (token lists count 1 each)."""
    prompt = body.get("prompt")
    texts: list[str] = []
    tokens = 0
    items = prompt if isinstance(prompt, list) else [prompt]
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, int):
            tokens += 1
        elif isinstance(item, list):
            tokens += len(item)
    return "\n".join(texts), count_tokens(sum(len(t) for t in texts)) + tokens


def chat_output(body: JSON, input_text: str) -> str:
    """The full (uncut) answer, honouring ``response_format``."""
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind is None or kind == "text":
        return echo_text(input_text)
    seed = " ".join(input_text[-SNIPPET_CHARS:].split())[:60] or "mock"
    if kind == "json_schema" and isinstance(fmt, dict):
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        value = value_for_schema(schema, "value", seed)
        return orjson.dumps(value if isinstance(value, dict) else {"value": value}).decode()
    return orjson.dumps({"echo": seed}).decode()


def completion_output(body: JSON, input_text: str) -> str:
    return echo_text(input_text)


def _cut(text: str, cap: int | None) -> tuple[str, str]:
    if cap is not None and count_tokens(len(text)) > cap:
        return text[: cap * 4], "length"
    return text, "stop"


def _chat_cap(body: JSON) -> int | None:
    cap = _whole(body.get("max_completion_tokens"))
    return cap if cap is not None else _whole(body.get("max_tokens"))


def build_chat(body: JSON, model: str, tokens_in: int, full_text: str) -> JSON:
    """The ``chat.completion`` for a request: ``n`` identical choices."""
    text, reason = _cut(full_text, _chat_cap(body))
    n = choices_of(body)
    tokens_out = count_tokens(len(text)) * n
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": _now(),
        "model": model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": reason,
            }
            for i in range(n)
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mockapi",
    }


def build_completion(body: JSON, model: str, tokens_in: int, full_text: str) -> JSON:
    """The ``text_completion`` for a request (``echo`` puts the prompt first)."""
    text, reason = _cut(full_text, _whole(body.get("max_tokens")))
    n = choices_of(body)
    tokens_out = count_tokens(len(text)) * n
    prompt = body.get("prompt")
    shown = (prompt if isinstance(prompt, str) else "") + text if body.get("echo") else text
    return {
        "id": new_id("cmpl-"),
        "object": "text_completion",
        "created": _now(),
        "model": model,
        "choices": [
            {"index": i, "text": shown, "logprobs": None, "finish_reason": reason} for i in range(n)
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
        "system_fingerprint": "fp_mockapi",
    }


def chat_token_cost(body: JSON, tokens_in: int, full_text: str) -> int:
    """Tokens charged to the limiter: input + (the cap if given, else the output) per choice."""
    cap = _chat_cap(body)
    return tokens_in + (cap if cap is not None else count_tokens(len(full_text))) * choices_of(body)


def completion_token_cost(body: JSON, tokens_in: int, full_text: str) -> int:
    cap = _whole(body.get("max_tokens"))
    return tokens_in + (cap if cap is not None else count_tokens(len(full_text))) * choices_of(body)


def _data(payload: JSON) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _pieces(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def chat_events(response: JSON, body: JSON, cut_after: int | None = None) -> Iterator[bytes]:
    """The chunks of one streamed chat completion; ``cut_after`` stops after that many
    content deltas (an injected cut stream)."""
    top = {k: v for k, v in response.items() if k not in ("object", "choices", "usage")}
    options = body.get("stream_options")
    with_usage = isinstance(options, dict) and options.get("include_usage") is True
    tail = {"usage": None} if with_usage else {}

    def chunk(choices: list[JSON], **extra: Any) -> bytes:
        return _data({**top, "object": "chat.completion.chunk", "choices": choices, **extra})

    def choice(index: int, delta: JSON, reason: str | None = None) -> JSON:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}

    for c in response["choices"]:
        i = c["index"]
        yield chunk([choice(i, {"role": "assistant", "content": "", "refusal": None})], **tail)
        for n, piece in enumerate(_pieces(c["message"]["content"])):
            if cut_after is not None and n >= cut_after:
                return
            yield chunk([choice(i, {"content": piece})], **tail)
        yield chunk([choice(i, {}, c["finish_reason"])], **tail)
    if cut_after is not None:
        return
    if with_usage:
        yield chunk([], usage=response["usage"])
    yield b"data: [DONE]\n\n"


def completion_events(response: JSON, body: JSON, cut_after: int | None = None) -> Iterator[bytes]:
    """The chunks of one streamed legacy completion, then ``[DONE]``."""
    top = {k: v for k, v in response.items() if k not in ("choices", "usage")}
    options = body.get("stream_options")
    with_usage = isinstance(options, dict) and options.get("include_usage") is True
    for c in response["choices"]:
        for n, piece in enumerate(_pieces(c["text"])):
            if cut_after is not None and n >= cut_after:
                return
            part = {"index": c["index"], "text": piece, "logprobs": None, "finish_reason": None}
            yield _data({**top, "choices": [part]})
        done = {
            "index": c["index"],
            "text": "",
            "logprobs": None,
            "finish_reason": c["finish_reason"],
        }
        yield _data({**top, "choices": [done]})
    if cut_after is not None:
        return
    if with_usage:
        yield _data({**top, "choices": [], "usage": response["usage"]})
    yield b"data: [DONE]\n\n"


def _now() -> int:
    return int(time.time())

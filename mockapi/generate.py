"""Deterministic answers: token counting, output text, structured output, the response body."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import orjson

IMAGE_TOKENS = 85
FILE_TOKENS = 200
SNIPPET_CHARS = 200
_MAX_SCHEMA_DEPTH = 8

JSON = dict[str, Any]


def count_tokens(chars: int) -> int:
    """The mock's tokenizer: one token per 4 characters, rounded up."""
    return (chars + 3) // 4


def _part_text(part: Any, texts: list[str]) -> int:
    """Collect the text of one content part; return its fixed (non-text) token cost."""
    if isinstance(part, str):
        texts.append(part)
        return 0
    if not isinstance(part, dict):
        return 0
    kind = part.get("type")
    if kind == "input_image":
        return IMAGE_TOKENS
    if kind == "input_file":
        return FILE_TOKENS
    texts += (v for v in (part.get("text"), part.get("output")) if isinstance(v, str))
    return 0


def read_input(body: JSON) -> tuple[str, int]:
    """Return (the input's text joined, input tokens) counting instructions and all parts."""
    texts: list[str] = []
    extra = 0
    instructions = body.get("instructions")
    chars = len(instructions) if isinstance(instructions, str) else 0
    value = body.get("input")
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and "content" in item:
                content = item["content"]
                if isinstance(content, list):
                    for part in content:
                        extra += _part_text(part, texts)
                else:
                    extra += _part_text(content, texts)
            else:
                extra += _part_text(item, texts)
    for t in texts:
        chars += len(t)
    return "\n".join(texts), count_tokens(chars) + extra


def echo_text(input_text: str) -> str:
    """Same input, same text: ``Echo: `` plus the input's last 200 characters, whitespace folded."""
    snippet = " ".join(input_text[-4 * SNIPPET_CHARS :].split())[-SNIPPET_CHARS:]
    return "Echo: " + (snippet or "(empty input)")


def value_for_schema(schema: Any, name: str, seed_text: str, depth: int = 0) -> Any:
    """A value satisfying a simple JSON schema (types, properties, required, items, enum)."""
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return seed_text
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return value_for_schema(options[0], name, seed_text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        out = {k: value_for_schema(v, k, seed_text, depth + 1) for k, v in props.items()}
        for key in schema.get("required") or ():
            if isinstance(key, str) and key not in out:
                out[key] = seed_text
        return out
    if kind == "array":
        return [value_for_schema(schema.get("items"), name, seed_text, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{name}: {seed_text}"[:SNIPPET_CHARS]


def output_for(body: JSON, input_text: str) -> str:
    """The full (uncut) output text for a request, honouring ``text.format``."""
    text_cfg = body.get("text")
    fmt = text_cfg.get("format") if isinstance(text_cfg, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind is None or kind == "text":
        return echo_text(input_text)
    seed = " ".join(input_text[-SNIPPET_CHARS:].split())[:60] or "mock"
    if kind == "json_schema" and isinstance(fmt, dict):
        value = value_for_schema(fmt.get("schema"), "value", seed)
        if not isinstance(value, dict):
            value = {"value": value}
        return orjson.dumps(value).decode()
    return orjson.dumps({"echo": seed}).decode()


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def build_response(body: JSON, model: str, tokens_in: int, full_text: str) -> JSON:
    """The final response object (status completed, or incomplete when max_output_tokens cut it)."""
    max_out = body.get("max_output_tokens")
    text = full_text
    status = "completed"
    incomplete = None
    if isinstance(max_out, int) and count_tokens(len(text)) > max_out:
        text = text[: max_out * 4]
        status = "incomplete"
        incomplete = {"reason": "max_output_tokens"}
    tokens_out = count_tokens(len(text))
    now = int(time.time())
    text_cfg = body.get("text")
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": now,
        "status": status,
        "background": False,
        "completed_at": now if status == "completed" else None,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": max_out,
        "model": model,
        "output": [
            {
                "id": new_id("msg_"),
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "output_text": text,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True) is not False,
        "temperature": body.get("temperature", 1.0),
        "text": text_cfg if isinstance(text_cfg, dict) else {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": {
            "input_tokens": tokens_in,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": tokens_out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens_in + tokens_out,
        },
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def token_cost(body: JSON, tokens_in: int, full_text: str) -> int:
    """Tokens charged to the limiter: input + (max_output_tokens if given, else produced output)."""
    max_out = body.get("max_output_tokens")
    if isinstance(max_out, int):
        return tokens_in + max_out
    return tokens_in + count_tokens(len(full_text))


def ceil_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))

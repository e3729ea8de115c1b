"""Answer in other providers' styles: the same response, shaped as OpenAI, Azure OpenAI,
vLLM, Ollama, OpenRouter, LiteLLM's proxy or a gateway with Chat-Completions usage names
would send it. Token counts stay the same, so totals can still be checked exactly.

``mixed`` picks a style per request. The shapes follow each provider's documented or
recorded Responses bodies (tests/fixtures/provider_responses.json).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


def _without_output_text(response: JSON) -> JSON:
    # OpenAI's API never sends output_text: it is a property of its SDKs.
    return {k: v for k, v in response.items() if k != "output_text"}


def _openai(response: JSON) -> JSON:
    return _without_output_text(response)


def _azure(response: JSON) -> JSON:
    return {**_without_output_text(response), "content_filters": None}


def _vllm(response: JSON) -> JSON:
    out = _without_output_text(response)
    reasoning = {
        "id": "rs_" + os.urandom(8).hex(),
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "Thinking it over."}],
        "encrypted_content": None,
        "status": None,
    }
    return {**out, "output": [reasoning, *out["output"]], "metadata": None, "text": None}


def _ollama(response: JSON) -> JSON:
    usage = response["usage"]
    keep = ("object", "created_at", "status", "model", "output")
    return {
        "id": f"resp_{random.randint(100000, 999999)}",
        **{k: response[k] for k in keep},
        "usage": {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")},
    }


def _openrouter(response: JSON) -> JSON:
    usage = {**response["usage"], "cost": 0.000002, "is_byok": False}
    return {**response, "id": "gen-" + os.urandom(8).hex(), "usage": usage, "store": False}


def _litellm(response: JSON) -> JSON:
    usage = response["usage"]
    return {
        **_without_output_text(response),
        "id": "resp_" + os.urandom(48).hex(),
        "usage": {
            "input_tokens": usage["input_tokens"],
            "input_tokens_details": {"audio_tokens": None, "cached_tokens": None},
            "output_tokens": usage["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": None, "text_tokens": None},
            "total_tokens": usage["total_tokens"],
            "cost": None,
        },
    }


def _chat_usage(response: JSON) -> JSON:
    usage = response["usage"]
    return {
        **response,
        "usage": {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": None,
        },
    }


STYLES: dict[str, Callable[[JSON], JSON]] = {
    "seed": lambda response: response,
    "openai": _openai,
    "azure": _azure,
    "vllm": _vllm,
    "ollama": _ollama,
    "openrouter": _openrouter,
    "litellm": _litellm,
    "chat-usage": _chat_usage,
}
STYLE_NAMES: frozenset[str] = frozenset({*STYLES, "mixed"})


def check_style(style: str) -> str:
    if style not in STYLE_NAMES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(sorted(STYLE_NAMES))}")
    return style


def restyle(response: JSON, style: str, rng: random.Random) -> JSON:
    """``response`` (the seed provider's shape) as ``style`` would send it."""
    if style == "mixed":
        style = rng.choice(sorted(STYLES))
    return STYLES[style](response)

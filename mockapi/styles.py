"""Answer in other providers' styles: the same response, shaped as OpenAI, Azure OpenAI,
vLLM, Ollama, OpenRouter, LiteLLM's proxy or a gateway with Chat-Completions usage names
would send it. Token counts stay the same, so totals can still be checked exactly.

``mixed`` picks a style per request. The shapes follow each provider's documented or
recorded Responses bodies (tests/fixtures/provider_responses.json), and for chat
completions and embeddings what those providers' OpenAI-compatible servers send: Azure's
content filter results, vLLM's ``reasoning_content`` and ``stop_reason``, Ollama's bare
usage, OpenRouter's ``gen-`` ids and provider, LiteLLM's nulls in usage details.
Completions and moderations answer in OpenAI's shape whatever the style.
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


def _chat_azure(response: JSON) -> JSON:
    unfiltered = {"filtered": False, "severity": "safe"}
    filters = dict.fromkeys(("hate", "self_harm", "sexual", "violence"), unfiltered)
    choices = [{**c, "content_filter_results": filters} for c in response["choices"]]
    prompt = [{"prompt_index": 0, "content_filter_results": filters}]
    return {**response, "choices": choices, "prompt_filter_results": prompt}


def _chat_vllm(response: JSON) -> JSON:
    choices = [
        {
            **c,
            "message": {**c["message"], "reasoning_content": None, "tool_calls": []},
            "stop_reason": None,
        }
        for c in response["choices"]
    ]
    usage = {
        k: response["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    return {
        **response,
        "id": "chatcmpl-" + os.urandom(16).hex(),
        "choices": choices,
        "usage": {**usage, "prompt_tokens_details": None},
        "prompt_logprobs": None,
        "kv_transfer_params": None,
        "system_fingerprint": None,
    }


def _chat_ollama(response: JSON) -> JSON:
    usage = {
        k: response["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    keep = {k: v for k, v in response.items() if k not in ("service_tier", "usage")}
    return {
        **keep,
        "id": f"chatcmpl-{random.randint(100, 999)}",
        "usage": usage,
        "system_fingerprint": "fp_ollama",
    }


def _chat_openrouter(response: JSON) -> JSON:
    usage = {**response["usage"], "cost": 0.000002, "is_byok": False}
    return {**response, "id": "gen-" + os.urandom(8).hex(), "provider": "OpenAI", "usage": usage}


def _chat_litellm(response: JSON) -> JSON:
    usage = response["usage"]
    return {
        **response,
        "id": "chatcmpl-" + os.urandom(12).hex(),
        "usage": {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
            "completion_tokens_details": {"reasoning_tokens": None, "audio_tokens": None},
            "prompt_tokens_details": {"cached_tokens": None, "audio_tokens": None},
        },
    }


def _embeddings_vllm(response: JSON) -> JSON:
    usage = {**response["usage"], "completion_tokens": 0, "prompt_tokens_details": None}
    return {"id": "embd-" + os.urandom(16).hex(), **response, "created": 1772294400, "usage": usage}


def _embeddings_openrouter(response: JSON) -> JSON:
    return {**response, "id": "gen-emb-" + os.urandom(8).hex(), "provider": "OpenAI"}


def _embeddings_litellm(response: JSON) -> JSON:
    usage = {
        **response["usage"],
        "completion_tokens": 0,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }
    return {**response, "usage": usage}


def _identity(response: JSON) -> JSON:
    return response


# Per endpoint kind: the styles whose shape differs from OpenAI's there.
KIND_STYLES: dict[str, dict[str, Callable[[JSON], JSON]]] = {
    "responses": STYLES,
    "chat": {
        "azure": _chat_azure,
        "vllm": _chat_vllm,
        "ollama": _chat_ollama,
        "openrouter": _chat_openrouter,
        "litellm": _chat_litellm,
    },
    "embeddings": {
        "vllm": _embeddings_vllm,
        "openrouter": _embeddings_openrouter,
        "litellm": _embeddings_litellm,
    },
}


def check_style(style: str) -> str:
    if style not in STYLE_NAMES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(sorted(STYLE_NAMES))}")
    return style


def restyle(response: JSON, style: str, rng: random.Random, kind: str = "responses") -> JSON:
    """``response`` (the seed provider's shape for ``kind``) as ``style`` would send it."""
    if style == "mixed":
        style = rng.choice(sorted(STYLES))
    return KIND_STYLES.get(kind, {}).get(style, _identity)(response)

"""Read a streamed chat completion (or legacy completion) down to the object the plain
call returns.

The stream is SSE ``data:`` lines of ``chat.completion.chunk`` objects ending in
``data: [DONE]``; with ``stream_options.include_usage`` the last chunk carries ``usage``
and no choices. Each choice's deltas are joined into one message: text fields (content,
refusal, a provider's reasoning_content …) are concatenated, tool calls are merged by
their index (arguments concatenated), logprobs are appended, and the last finish_reason
wins. The result is a ``chat.completion`` (``text_completion`` for completions) with the
stream's id, created, model and every other top-level field it sent.

A stream that stops before ``[DONE]`` is StreamInterrupted (retried); an ``error`` object
in the stream is StreamFailed with its code, as for the Responses stream (``respq.worker.sse``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, Protocol

import orjson

from respq.contract.endpoints import CHAT_COMPLETIONS, COMPLETIONS, RESPONSES
from respq.contract.errors import StreamFailed, StreamInterrupted
from respq.worker.sse import final_response, iter_events, paced

JSON = dict[str, Any]


class StreamReader(Protocol):
    """Reads an endpoint's event stream to the object its plain call returns."""

    async def __call__(
        self, lines: AsyncIterator[str], request_id: str | None, *, idle_timeout: float | None
    ) -> JSON: ...


# Chunk fields that describe one chunk, not the whole answer.
_CHUNK_ONLY: Final = frozenset({"object", "choices", "usage", "obfuscation"})


class _Choice:
    """One choice being assembled from its deltas."""

    __slots__ = ("extra", "finish_reason", "logprobs", "message", "tool_calls")

    def __init__(self) -> None:
        self.message: JSON = {"role": "assistant", "content": None}
        self.tool_calls: dict[int, JSON] = {}
        self.logprobs: JSON | None = None
        self.finish_reason: Any = None
        self.extra: JSON = {}

    def add(self, choice: Mapping[str, Any], text_key: str) -> None:
        delta = choice.get("delta") if text_key == "content" else None
        if isinstance(delta, Mapping):
            self._delta(delta)
        elif text_key == "text":  # a legacy completion chunk carries its text directly
            _join(self.message, "text", choice.get("text"))
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, Mapping):
            self._logprobs(logprobs)
        if choice.get("finish_reason") is not None:
            self.finish_reason = choice["finish_reason"]
        for key, value in choice.items():
            if key not in ("index", "delta", "logprobs", "finish_reason", "text"):
                self.extra[key] = value

    def _delta(self, delta: Mapping[str, Any]) -> None:
        message = self.message
        for key, value in delta.items():
            if key == "tool_calls" and isinstance(value, list):
                for call in value:
                    if isinstance(call, Mapping):
                        self._tool_call(call)
            elif key == "role":
                if isinstance(value, str):
                    message["role"] = value
            elif isinstance(value, str):
                _join(message, key, value)
            elif isinstance(value, list):
                message.setdefault(key, [])
                if isinstance(message[key], list):
                    message[key].extend(value)
            elif value is not None or key not in message:
                message[key] = value

    def _tool_call(self, call: Mapping[str, Any]) -> None:
        index = call.get("index")
        slot = self.tool_calls.setdefault(
            index if isinstance(index, int) else len(self.tool_calls), {}
        )
        for key, value in call.items():
            if key == "index":
                continue
            if key == "function" and isinstance(value, Mapping):
                function = slot.setdefault("function", {})
                for name, part in value.items():
                    if isinstance(part, str) and name == "arguments":
                        _join(function, name, part)
                    elif part is not None:
                        function[name] = part
            elif value is not None:
                slot[key] = value

    def _logprobs(self, logprobs: Mapping[str, Any]) -> None:
        merged = self.logprobs if self.logprobs is not None else {}
        self.logprobs = merged
        for key, value in logprobs.items():
            if isinstance(value, list):
                merged.setdefault(key, [])
                merged[key].extend(value)
            else:
                merged[key] = value

    def chat(self, index: int) -> JSON:
        message = self.message
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": None, "type": "function", **call}
                for _, call in sorted(self.tool_calls.items())
            ]
        message.setdefault("refusal", None)
        return {
            "index": index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
            **self.extra,
        }

    def text(self, index: int) -> JSON:
        return {
            "index": index,
            "text": self.message.get("text") or "",
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
            **self.extra,
        }


def _join(target: JSON, key: str, value: Any) -> None:
    if isinstance(value, str):
        before = target.get(key)
        target[key] = before + value if isinstance(before, str) else value


async def _assemble(
    lines: AsyncIterator[str],
    request_id: str | None,
    *,
    kind: str,
    text_key: str,
    idle_timeout: float | None,
) -> JSON:
    top: JSON = {}
    choices: dict[int, _Choice] = {}
    usage: Any = None
    async for _, raw in paced(iter_events(lines), idle_timeout, request_id):
        if raw == "[DONE]":
            final: JSON = {"id": top.get("id"), "object": kind, **top}
            build = _Choice.chat if text_key == "content" else _Choice.text
            final["choices"] = [build(choices[i], i) for i in sorted(choices)]
            final["usage"] = usage
            return final
        try:
            chunk = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StreamInterrupted(
                "unparseable data in the stream", request_id=request_id
            ) from None
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk and "choices" not in chunk:
            raise _failed(chunk, request_id)
        for key, value in chunk.items():
            if key not in _CHUNK_ONLY:
                top[key] = value
        if chunk.get("usage") is not None:
            usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, Mapping):
                index = choice.get("index")
                key = index if isinstance(index, int) else 0
                choices.setdefault(key, _Choice()).add(choice, text_key)
    raise StreamInterrupted("the stream ended before [DONE]", request_id=request_id)


def _failed(chunk: JSON, request_id: str | None) -> StreamFailed:
    error = chunk.get("error")
    details: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    code = details.get("code") or details.get("type") or "stream_error"
    return StreamFailed(
        str(details.get("message") or error or "the stream reported an error"),
        code=str(code),
        status_code=200,
        body=chunk,
        request_id=request_id,
    )


async def final_chat_completion(
    lines: AsyncIterator[str], request_id: str | None, *, idle_timeout: float | None = None
) -> JSON:
    """The ``chat.completion`` a chat stream adds up to (StreamInterrupted when no chunk
    comes for ``idle_timeout`` seconds: keep-alive comments do not count)."""
    return await _assemble(
        lines, request_id, kind="chat.completion", text_key="content", idle_timeout=idle_timeout
    )


async def final_completion(
    lines: AsyncIterator[str], request_id: str | None, *, idle_timeout: float | None = None
) -> JSON:
    """The ``text_completion`` a legacy completion stream adds up to."""
    return await _assemble(
        lines, request_id, kind="text_completion", text_key="text", idle_timeout=idle_timeout
    )


# How each endpoint that streams is read to its final object.
STREAM_READERS: Final[Mapping[str, StreamReader]] = {
    RESPONSES.url: final_response,
    CHAT_COMPLETIONS.url: final_chat_completion,
    COMPLETIONS.url: final_completion,
}

"""Read a Responses API event stream (SSE) down to its final response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import orjson

from respq.contract.errors import StreamFailed, StreamInterrupted

FINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})
T = TypeVar("T")


async def iter_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs from SSE lines; ``event`` defaults to the data's ``type``."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
        # ":" comments and id:/retry: fields carry nothing respq needs
    if data:
        yield event, "\n".join(data)


async def paced(
    events: AsyncIterator[T], idle_timeout: float | None, request_id: str | None
) -> AsyncIterator[T]:
    """``events``, raising StreamInterrupted when none comes for ``idle_timeout`` seconds.
    The clock restarts with each event only: ``: keep-alive`` comments and blank lines are
    not events, so a stream that sends nothing else cannot hold a request open."""
    iterator = aiter(events)
    while True:
        try:
            # Only the wait for the next event is timed, never the caller's work on one.
            async with asyncio.timeout(idle_timeout):
                event = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise StreamInterrupted(
                f"no event for {idle_timeout:g}s (RESPQ_STREAM_IDLE_TIMEOUT)",
                request_id=request_id,
            ) from None
        yield event


async def final_response(
    lines: AsyncIterator[str], request_id: str | None, *, idle_timeout: float | None = None
) -> dict[str, Any]:
    """The response carried by the terminal event. An ``error`` or ``response.failed``
    event raises StreamFailed; a stream that stops early, or sends no event for
    ``idle_timeout`` seconds, raises StreamInterrupted."""
    async for event, raw in paced(iter_events(lines), idle_timeout, request_id):
        if raw == "[DONE]":
            break
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StreamInterrupted(
                f"unparseable SSE data after event {event or '?'}", request_id=request_id
            ) from None
        kind = event or (payload.get("type") if isinstance(payload, dict) else "") or ""
        if not isinstance(payload, dict):
            continue
        carried = payload.get("response")
        response: dict[str, Any] = carried if isinstance(carried, dict) else {}
        if kind in FINAL_EVENTS:
            if isinstance(carried, dict):
                return carried
            raise StreamInterrupted(f"{kind} event without a response", request_id=request_id)
        if kind == "response.failed":
            failure = response.get("error")
            details = failure if isinstance(failure, dict) else {}
            raise _stream_failed(details, response, request_id, "response_failed")
        if kind == "error":
            nested = payload.get("error")
            raise _stream_failed(
                nested if isinstance(nested, dict) else payload, payload, request_id, "stream_error"
            )
    raise StreamInterrupted("the stream ended before response.completed", request_id=request_id)


def _stream_failed(
    error: dict[str, Any], body: dict[str, Any], request_id: str | None, default_code: str
) -> StreamFailed:
    """The failure an ``error`` or ``response.failed`` event carries (a 200 stream)."""
    return StreamFailed(
        str(error.get("message") or default_code.replace("_", " ")),
        code=str(error.get("code") or default_code),
        status_code=200,
        body=body,
        request_id=request_id,
    )

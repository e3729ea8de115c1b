"""Server-sent events in the Responses API's order, parsed by the official SDK; and the
sender every streaming endpoint shares."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson

from .asgi import SSE_HEADERS, Send

CHUNK_CHARS = 4  # one mock token per delta


def _event(kind: str, seq: int, payload: dict[str, Any]) -> bytes:
    data = orjson.dumps({"type": kind, "sequence_number": seq, **payload})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


def _chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def sse_events(response: dict[str, Any], cut_after: int | None = None) -> Iterator[bytes]:
    """Yield every event of one streamed response; ``cut_after`` stops after that many deltas."""
    message = response["output"][0]
    item_id = message["id"]
    text: str = message["content"][0]["text"]
    pending = {
        **response,
        "status": "in_progress",
        "completed_at": None,
        "incomplete_details": None,
        "output": [],
        "output_text": "",
        "usage": None,
    }
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    seq = 0
    yield _event("response.created", seq, {"response": pending})
    seq += 1
    yield _event("response.in_progress", seq, {"response": pending})
    seq += 1
    item = {**message, "status": "in_progress", "content": []}
    yield _event("response.output_item.added", seq, {"output_index": 0, "item": item})
    seq += 1
    empty_part = {"type": "output_text", "text": "", "annotations": []}
    yield _event("response.content_part.added", seq, {**where, "part": empty_part})
    for n, chunk in enumerate(_chunks(text)):
        if cut_after is not None and n >= cut_after:
            return
        seq += 1
        yield _event("response.output_text.delta", seq, {**where, "delta": chunk, "logprobs": []})
    if cut_after is not None:
        return
    seq += 1
    yield _event("response.output_text.done", seq, {**where, "text": text, "logprobs": []})
    seq += 1
    yield _event("response.content_part.done", seq, {**where, "part": message["content"][0]})
    seq += 1
    yield _event("response.output_item.done", seq, {"output_index": 0, "item": message})
    seq += 1
    final = "response.completed" if response["status"] == "completed" else "response.incomplete"
    yield _event(final, seq, {"response": response})


async def send_stream(
    send: Send,
    response: dict[str, Any],
    request_id: str,
    extra_headers: list[tuple[bytes, bytes]],
    tokens_per_second: float,
    cut_after: int | None = None,
) -> None:
    """Send the events; pace deltas at ``tokens_per_second`` when it is > 0."""
    await send_events(
        send,
        sse_events(response, cut_after),
        request_id,
        extra_headers,
        tokens_per_second,
        b"event: response.output_text.delta\n",
    )


async def send_events(
    send: Send,
    events: Iterator[bytes],
    request_id: str,
    extra_headers: list[tuple[bytes, bytes]],
    tokens_per_second: float,
    delta_prefix: bytes,
) -> None:
    """Send any endpoint's events; those starting with ``delta_prefix`` are paced at
    ``tokens_per_second`` when it is > 0."""
    headers = [*SSE_HEADERS, (b"x-request-id", request_id.encode()), *extra_headers]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if tokens_per_second <= 0:
        body = b"".join(events)
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    delay = 1.0 / tokens_per_second
    for event in events:
        if event.startswith(delta_prefix):
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})

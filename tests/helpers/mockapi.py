"""Requests to mockapi over HTTP as the mockapi tests send them, and how its streams read."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

# The events of a streamed response before its text deltas, and after them.
STREAM_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
STREAM_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def create(client: httpx.Client, **body: Any) -> httpx.Response:
    """``POST /responses`` of a small request; ``body`` adds or replaces its fields."""
    return client.post("/responses", json={"model": "gpt-5.4", "input": "hello", **body})


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of every event of an SSE body."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], orjson.loads(lines["data"])))
    return events

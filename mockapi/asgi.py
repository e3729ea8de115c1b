"""Tiny raw-ASGI helpers: types, body reading, JSON/error answers, dropping a connection."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_TYPE = (b"content-type", b"application/json")
HTML_TYPE = (b"content-type", b"text/html; charset=utf-8")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


def new_request_id() -> str:
    return "req_" + os.urandom(16).hex()


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client has gone away (drains any unread request body first)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    content_type: tuple[bytes, bytes] = JSON_TYPE,
    extra: Headers | None = None,
) -> None:
    headers: Headers = [
        content_type,
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(
    send: Send, status: int, payload: Any, request_id: str, extra: Headers | None = None
) -> None:
    await send_bytes(send, status, orjson.dumps(payload), request_id, JSON_TYPE, extra)


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def send_error(
    send: Send,
    status: int,
    request_id: str,
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    extra: Headers | None = None,
) -> None:
    await send_json(send, status, error_body(message, type_, param, code), request_id, extra)


def drop_connection(send: Send) -> None:
    """Close the client connection without any response.

    Raw ASGI has no such message, so reach uvicorn's per-request cycle (``send`` is its bound
    method) and abort its transport; marking the cycle disconnected stops uvicorn from
    answering 500 itself. Under another server, raise so it drops or fails the request.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("mockapi: injected connection reset")
    transport.abort()
    cycle.disconnected = True  # type: ignore[union-attr]

"""Caps on request bodies, enforced before any handler parses one.

Each route that reads a body gets a cap that fits what it carries: a sign-in form a few
KiB, a batch create metadata-sized JSON, an upload its file limit plus the multipart
framing; every other request (GETs, cancels, deletes) carries nothing worth reading. A
``Content-Length`` over the cap is answered 413 before the body is read; a body without one
(chunked) is counted as it streams and refused the moment it passes the cap, so no
handler ever holds more than its cap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from respq.contract.errors import BadRequest, PayloadTooLarge

# A sign-in form holds one key.
LOGIN_BODY_BYTES: Final = 4 * 1024
# input_file_id, endpoint, completion_window and metadata at OpenAI's limits (16 pairs of
# 64 + 512 characters), even if every character is written as a 12-byte \u escape pair.
BATCH_CREATE_BODY_BYTES: Final = 128 * 1024
# Multipart framing and the text fields around an upload's file (server.upload caps each).
UPLOAD_FRAMING_BYTES: Final = 2 * 1024 * 1024
# Anything else: no route reads these bodies.
OTHER_BODY_BYTES: Final = 8 * 1024


def body_caps(max_upload_bytes: int) -> Callable[[str, str], int]:
    """The cap on a request's body, by method and path."""
    caps = {
        ("POST", "/v1/files"): max_upload_bytes + UPLOAD_FRAMING_BYTES,
        ("POST", "/v1/batches"): BATCH_CREATE_BODY_BYTES,
        ("POST", "/login"): LOGIN_BODY_BYTES,
    }

    def cap(method: str, path: str) -> int:
        return caps.get((method, path.rstrip("/") or "/"), OTHER_BODY_BYTES)

    return cap


def too_large(cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this endpoint accepts ({cap} bytes).",
        code="request_too_large",
    )


async def _answer(error: BadRequest, send: Send) -> None:
    # Connection: close, so the client stops sending a body nobody will read.
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(error.body())})


class BodyLimit:
    """ASGI middleware: refuse a body over its route's cap, declared or streamed."""

    def __init__(self, app: ASGIApp, cap: Callable[[str, str], int]) -> None:
        self.app = app
        self.cap = cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(BadRequest("Content-Length is not a number."), send)
                return
            if length > cap:
                await _answer(too_large(cap), send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    # Raised inside the handler's read: the app answers it as any ApiError.
                    raise too_large(cap)
            return message

        await self.app(scope, counted, send)

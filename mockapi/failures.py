"""Failure injection: which request fails (``--fail-rate`` of the ``--fail-mix`` kinds)
and how — a 5xx, a 429, a revoked key, an exhausted quota, a hang, a reset connection, a
non-JSON or truncated body, a cut event stream."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import orjson

from .asgi import (
    HTML_TYPE,
    JSON_TYPE,
    Receive,
    Send,
    drop_connection,
    send_bytes,
    send_error,
    wait_for_disconnect,
)
from .config import LiveSettings
from .kinds import RESPONSES, Kind
from .stream import send_events

SSE_CUT_AFTER = 3  # deltas sent before an injected ``sse_truncated`` stops the stream


class FailureInjector:
    def __init__(self, rng: random.Random, hang_seconds: Callable[[], float]) -> None:
        self.rng = rng
        self._hang_seconds = hang_seconds

    def pick(self, settings: LiveSettings) -> str | None:
        """The failure this request gets, or None."""
        if settings.fail_rate <= 0 or not settings.fail_mix:
            return None
        if self.rng.random() >= settings.fail_rate:
            return None
        return self.rng.choice(settings.fail_mix)

    async def answer(
        self,
        failure: str,
        receive: Receive,
        send: Send,
        rid: str,
        body: dict[str, Any],
        tokens_in: int,
        full_text: str,
        kind: Kind = RESPONSES,
    ) -> None:
        if failure == "500":
            msg = "The server had an error while processing your request. Sorry about that!"
            await send_error(send, 500, rid, msg, type_="server_error")
        elif failure == "503":
            msg = "The engine is currently overloaded, please try again later."
            await send_error(send, 503, rid, msg, type_="server_error", code="overloaded")
        elif failure == "429":
            extra = [(b"retry-after", b"1"), (b"retry-after-ms", b"100")]
            msg = "Rate limit reached (injected by mockapi). Please try again in 100ms."
            await send_error(
                send, 429, rid, msg, type_="requests", code="rate_limit_exceeded", extra=extra
            )
        elif failure == "hang":
            try:
                await asyncio.wait_for(wait_for_disconnect(receive), self._hang_seconds())
            except TimeoutError:
                drop_connection(send)
        elif failure == "reset":
            drop_connection(send)
        elif failure == "401":
            msg = "Incorrect API key provided (injected by mockapi)."
            await send_error(send, 401, rid, msg, code="invalid_api_key")
        elif failure == "quota":
            msg = "You exceeded your current quota, please check your plan and billing details."
            await send_error(
                send, 429, rid, msg, type_="insufficient_quota", code="insufficient_quota"
            )
        elif failure == "nonjson":
            await send_bytes(send, 200, b"<html>upstream error</html>", rid, HTML_TYPE)
        elif failure == "garbage":
            await send_bytes(send, 200, b'{"unexpected": true}', rid, JSON_TYPE)
        elif failure == "truncated" or kind.events is None:
            response = kind.build(body, _model(body, kind), tokens_in, full_text)
            data = orjson.dumps(response)
            await send_bytes(send, 200, data[: len(data) // 2], rid, JSON_TYPE)
        else:  # sse_truncated, stream requests only
            response = kind.build(body, _model(body, kind), tokens_in, full_text)
            events = kind.events(response, body, SSE_CUT_AFTER)
            await send_events(send, events, rid, [], 0.0, kind.delta_prefix)


def _model(body: dict[str, Any], kind: Kind) -> str:
    model = body.get("model")
    return model if isinstance(model, str) else kind.default_model or ""

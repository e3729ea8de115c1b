"""The raw ASGI application: routing, auth, validation and rate limits (failures are
injected by ``respq.mockapi.failures``), the same for every endpoint it serves
(``respq.mockapi.kinds``: responses, chat completions, embeddings, completions, moderations)."""

from __future__ import annotations

import asyncio
import hmac
import math
import random
import time
from typing import Any

import orjson

from .asgi import (
    Headers,
    Receive,
    Scope,
    Send,
    error_body,
    new_request_id,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from .config import LiveSettings, MockConfig
from .failures import FailureInjector
from .kinds import BY_PATH, Kind
from .ratelimit import Decision, SlidingWindowLimiter, format_duration
from .stats import ResponseStore, Stats
from .stream import send_events
from .styles import restyle

RESPONSE_PREFIXES = ("/v1/responses/", "/api/v1/responses/", "/responses/")
MODELS_PATHS = frozenset({"/v1/models", "/api/v1/models", "/models"})
CONTROL_PATHS = frozenset({"/_stats", "/_reset", "/_control"})  # need the key when one is set


class MockApp:
    """ASGI callable. ``stats``, ``store``, ``limiter`` and ``settings`` are public for tests."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.settings = LiveSettings.from_config(config)
        self.stats = Stats()
        self.store = ResponseStore()
        self.limiter = SlidingWindowLimiter()
        self._rng = random.Random(config.seed)
        self._jitter_rng = random.Random(config.seed)
        self.failures = FailureInjector(self._rng, lambda: self.settings.hang_seconds)
        self._models = frozenset(config.models)
        self._api_key: bytes | None = config.api_key.encode() if config.api_key else None
        created = int(time.time())
        self._models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": created, "owned_by": "mockapi"}
                    for m in config.models
                ],
            }
        )

    # -- control ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Clear stats, the request log, stored responses and the limiter; reseed failures."""
        self.stats.reset()
        self.store.clear()
        self.limiter.reset()
        self._rng = random.Random(self.config.seed)
        self._jitter_rng = random.Random(self.config.seed)
        self.failures.rng = self._rng

    def stats_dict(self) -> dict[str, Any]:
        limiter = self.limiter
        return self.stats.as_dict((limiter.max_requests_in_window, limiter.max_tokens_in_window))

    # -- ASGI entry ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        rid = new_request_id()
        kind = BY_PATH.get(path)
        if kind is not None:
            if method == "POST":
                await self._create(scope, receive, send, rid, kind)
                return
        elif path in MODELS_PATHS:
            if method == "GET":
                if not self._authorized(scope):
                    self.stats.auth_failures += 1
                    await self._send_401(send, rid)
                    return
                await send_bytes(send, 200, self._models_body, rid)
                return
        elif path.startswith(RESPONSE_PREFIXES):
            if method == "GET":
                await self._retrieve(scope, send, rid, path.rsplit("/", 1)[1])
                return
        elif path in CONTROL_PATHS and not self._authorized(scope):
            # Stats show request bodies and /_control changes behaviour: key holders only.
            self.stats.auth_failures += 1
            await self._send_401(send, rid)
            return
        elif path == "/_stats" and method == "GET":
            await send_json(send, 200, self.stats_dict(), rid)
            return
        elif path == "/_reset" and method == "POST":
            self.reset()
            await send_json(send, 200, {"ok": True}, rid)
            return
        elif path == "/_control" and method in ("POST", "GET"):
            await self._control(receive, send, rid, method)
            return
        elif path in ("/health", "/healthz") and method == "GET":
            await send_json(send, 200, {"status": "ok"}, rid)
            return
        else:
            await send_error(send, 404, rid, f"Unknown path {path!r}.", code="not_found")
            return
        await send_error(send, 405, rid, f"Method {method} not allowed on {path}.")

    # -- helpers -----------------------------------------------------------------------------

    def _authorized(self, scope: Scope) -> bool:
        """``Authorization: Bearer <key>`` or ``x-api-key: <key>``, compared in constant
        time so response timing tells nothing about how much of a guess was right."""
        key = self._api_key
        if key is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(token, key):
                    return True
            elif name == b"x-api-key" and hmac.compare_digest(value, key):
                return True
        return False

    async def _send_401(self, send: Send, rid: str) -> None:
        await send_error(
            send, 401, rid, "Incorrect API key provided.", param=None, code="invalid_api_key"
        )

    async def _retrieve(self, scope: Scope, send: Send, rid: str, response_id: str) -> None:
        if not self._authorized(scope):
            self.stats.auth_failures += 1
            await self._send_401(send, rid)
            return
        found = self.store.get(response_id)
        if found is None:
            message = f"Response with id '{response_id}' not found."
            await send_error(send, 404, rid, message, param="response_id", code="not_found")
            return
        await send_json(send, 200, found, rid)

    async def _control(self, receive: Receive, send: Send, rid: str, method: str) -> None:
        if method == "POST":
            try:
                changes = orjson.loads(await read_body(receive))
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                self.settings.update(changes)
            except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
                await send_error(send, 400, rid, str(exc))
                return
        await send_json(send, 200, self.settings.as_dict(), rid)

    def _validate(self, body: Any, kind: Kind) -> tuple[int, dict[str, Any]] | None:
        """Return (status, error body) for an invalid request, else None."""
        if not isinstance(body, dict):
            return 400, error_body("Request body must be a JSON object.", "invalid_request_error")
        model = body.get("model", kind.default_model)
        if not isinstance(model, str) or not 1 <= len(model) <= 128:
            msg = "Invalid 'model': expected a string of 1 to 128 characters."
            return 400, error_body(msg, "invalid_request_error", "model", "invalid_value")
        for param, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
            value = body.get(param)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                msg = f"Invalid type for '{param}': expected a number."
                return 400, error_body(msg, "invalid_request_error", param, "invalid_type")
            if not low <= value <= high:
                msg = f"Invalid '{param}': expected a value in [{low:g}, {high:g}], got {value}."
                return 400, error_body(msg, "invalid_request_error", param, "invalid_value")
        invalid = kind.check(body)
        if invalid is not None:
            return invalid
        if model not in self._models and model != kind.default_model:
            msg = f"The model `{model}` does not exist or you do not have access to it."
            return 404, error_body(msg, "invalid_request_error", "model", "model_not_found")
        previous = body.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or previous not in self.store):
            msg = f"Previous response with id '{previous}' not found."
            code = "previous_response_not_found"
            return 400, error_body(msg, "invalid_request_error", "previous_response_id", code)
        return None

    def _limit_headers(self, decision: Decision, settings: LiveSettings) -> Headers:
        headers: Headers = []
        if settings.rpm:
            headers += [
                (b"x-ratelimit-limit-requests", str(settings.rpm).encode()),
                (b"x-ratelimit-remaining-requests", str(decision.remaining_requests).encode()),
                (b"x-ratelimit-reset-requests", format_duration(decision.reset_requests).encode()),
            ]
        if settings.tpm:
            headers += [
                (b"x-ratelimit-limit-tokens", str(settings.tpm).encode()),
                (b"x-ratelimit-remaining-tokens", str(decision.remaining_tokens).encode()),
                (b"x-ratelimit-reset-tokens", format_duration(decision.reset_tokens).encode()),
            ]
        return headers

    # -- POST /responses ---------------------------------------------------------------------

    async def _create(
        self, scope: Scope, receive: Receive, send: Send, rid: str, kind: Kind
    ) -> None:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        try:
            await self._create_inner(scope, receive, send, rid, kind)
        finally:
            stats.in_flight -= 1

    async def _create_inner(
        self, scope: Scope, receive: Receive, send: Send, rid: str, kind: Kind
    ) -> None:
        stats = self.stats
        if not self._authorized(scope):
            stats.auth_failures += 1
            stats.record(rid, None, 401, path=kind.path)
            await self._send_401(send, rid)
            return
        raw = await read_body(receive)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            stats.record(rid, None, 400, path=kind.path)
            await send_error(send, 400, rid, "We could not parse the JSON body of your request.")
            return
        invalid = self._validate(body, kind)
        if invalid is not None:
            stats.record(rid, body if isinstance(body, dict) else None, invalid[0], path=kind.path)
            await send_json(send, invalid[0], invalid[1], rid)
            return
        model: str = body.get("model", kind.default_model)
        input_text, tokens_in = kind.read_input(body)
        full_text = kind.output_for(body, input_text)
        settings = self.settings
        decision = self.limiter.check(
            time.monotonic(),
            kind.token_cost(body, tokens_in, full_text),
            settings.rpm,
            settings.tpm,
        )
        limit_headers = self._limit_headers(decision, settings)
        if not decision.allowed:
            stats.rate_limited += 1
            stats.record(rid, body, 429, path=kind.path)
            await self._send_429(send, rid, model, decision, settings, limit_headers)
            return
        stream = body.get("stream") is True and kind.events is not None
        failure = self.failures.pick(settings)
        if failure == "truncated" and stream:
            failure = "sse_truncated"  # a cut stream is how a streamed body gets truncated
        elif failure == "sse_truncated" and not stream:
            failure = "truncated"
        status = 200
        if failure in ("500", "503", "429", "401"):
            status = int(failure)
        elif failure == "quota":
            status = 429
        elif failure in ("hang", "reset"):
            status = 0
        stats.record(rid, body, status, failure, path=kind.path)
        delay = settings.latency
        if settings.jitter:
            delay += self._jitter_rng.uniform(-settings.jitter, settings.jitter)
        if delay > 0:
            await asyncio.sleep(delay)
        if failure is not None:
            await self.failures.answer(
                failure, receive, send, rid, body, tokens_in, full_text, kind
            )
            return
        response = kind.build(body, model, tokens_in, full_text)
        if kind.stores and self.config.store and body.get("store") is not False:
            self.store.put(response)
        response = restyle(response, settings.style, self._rng, kind.name)
        if stream and kind.events is not None:
            events = kind.events(response, body, None)
            tps = settings.tokens_per_second
            await send_events(send, events, rid, limit_headers, tps, kind.delta_prefix)
        else:
            await send_json(send, 200, response, rid, limit_headers)

    async def _send_429(
        self,
        send: Send,
        rid: str,
        model: str,
        decision: Decision,
        settings: LiveSettings,
        limit_headers: Headers,
    ) -> None:
        kind = decision.limited_by
        limit = settings.rpm if kind == "requests" else settings.tpm
        unit = "RPM" if kind == "requests" else "TPM"
        wait = decision.retry_after
        message = (
            f"Rate limit reached for {model} in organization org-mockapi on {kind} per min "
            f"({unit}): Limit {limit}. Please try again in {format_duration(wait)}."
        )
        headers = [
            (b"retry-after", str(math.ceil(wait)).encode()),
            (b"retry-after-ms", str(math.ceil(wait * 1000)).encode()),
            *limit_headers,
        ]
        body = error_body(message, kind, None, "rate_limit_exceeded")
        await send_json(send, 429, body, rid, headers)


def create_app(config: MockConfig) -> MockApp:
    """Build the ASGI app for ``config``; the result exposes ``stats`` and ``store``."""
    return MockApp(config)

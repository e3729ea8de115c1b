"""ASGI middleware of ``respq serve``: who an API request is, and the headers every
response carries."""

from __future__ import annotations

import orjson
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from respq.contract.errors import ApiError, TooManyRequests, Unauthorized
from respq.server.auth import UNRESTRICTED, KeyRing, Principal
from respq.server.throttle import SignInThrottle, client_address

# The dashboard must not be framed (another page framed it, signed in, with its Cancel
# button under a decoy); the rest keeps a key or a page from leaking by sniffing or
# Referer, and limits what an injected tag could load.
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_PRINCIPAL = "principal"


def error_response(error: ApiError) -> Response:
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers(),
    )


def too_many_sign_ins(retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        f"Too many wrong API keys from this address; try again in {retry_after} s.",
        retry_after=retry_after,
    )


def viewer(request: Request) -> Principal:
    """Who an API request is (set by BearerAuth)."""
    principal: Principal = request.state.principal
    return principal


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BearerAuth:
    """Every ``/v1`` request needs ``Authorization: Bearer <key>``; the key's principal is
    put in the request's state. Wrong keys are throttled per client address."""

    def __init__(self, app: ASGIApp, keys: KeyRing, throttle: SignInThrottle) -> None:
        self.app = app
        self.keys = keys
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        principal = UNRESTRICTED if not self.keys.enabled else None
        if principal is None:
            header = HTTPConnection(scope).headers.get("authorization")
            client = client_address(scope)
            # Only a presented key is a guess: a request without one costs no token.
            wait = self.throttle.retry_after(client) if header else 0
            if wait:
                await error_response(too_many_sign_ins(wait))(scope, receive, send)
                return
            principal = self.keys.bearer(header)
            if principal is None:
                if header:
                    self.throttle.failed(client)
                error = Unauthorized(
                    "Incorrect API key provided. Send one of RESPQ_SERVER_API_KEYS as "
                    "'Authorization: Bearer <key>'.",
                    code="invalid_api_key",
                )
                await error_response(error)(scope, receive, send)
                return
        scope.setdefault("state", {})[_PRINCIPAL] = principal
        await self.app(scope, receive, send)

"""Client keys: ``Authorization: Bearer`` for the API, a cookie for the dashboard.

Keys come only from ``RESPQ_SERVER_API_KEYS``. Nothing stores or logs them: the dashboard
cookie holds an HMAC derived from the key (not the key), and the access log has
``token=`` query values masked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

COOKIE_NAME = "respq_session"
# Cookie-authenticated POSTs must carry this header: a cross-site form cannot set it, so
# the dashboard's cancel button cannot be triggered from another site.
CSRF_HEADER = "x-respq-dashboard"
_COOKIE_CONTEXT = b"respq dashboard session v1"


class KeyRing:
    """The accepted client keys; every check costs the same whichever key matches."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys]
        self._cookies = [session_token(k) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check_key(self, candidate: str) -> bool:
        return _any_equal(candidate.encode(), self._keys)

    def check_cookie(self, candidate: str) -> bool:
        return _any_equal(candidate.encode(), self._cookies)

    def check_bearer(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.check_key(value.strip())


def session_token(key: str) -> bytes:
    """What the dashboard cookie holds for ``key``: an HMAC of it, never the key itself."""
    return hmac.new(key.encode(), _COOKIE_CONTEXT, hashlib.sha256).hexdigest().encode()


def _any_equal(candidate: bytes, accepted: list[bytes]) -> bool:
    # compare_digest against every key, no early exit: timing says nothing about which
    # key, or how much of one, matched.
    found = False
    for key in accepted:
        found |= hmac.compare_digest(candidate, key)
    return found


_TOKEN_RE = re.compile(r"(token=)[^&\s]*")


def redact(text: str) -> str:
    return _TOKEN_RE.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Masks ``?token=KEY`` in uvicorn's access-log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            args: tuple[Any, ...] = record.args
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True

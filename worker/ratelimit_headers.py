"""Parse OpenAI-style ``x-ratelimit-*`` response headers.

Durations use Go's ``time.Duration`` format as OpenAI sends it (``1s``, ``6m0s``, ``2m59.56s``,
``12ms``, ``1h2m3s``); plain numbers are seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RateLimitHeaders", "parse_duration", "parse_ratelimit_headers"]

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# "ms" before "m" so "12ms" is not read as 12 minutes and a stray "s".
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_PREFIX = "x-ratelimit-"


def parse_duration(s: str) -> float | None:
    """Seconds in ``s``, or None when it is not a duration."""
    text = s.strip().lower()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        return float(text)
    total = 0.0
    pos = 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not math.isfinite(total):
        return None
    return total


@dataclass(frozen=True)
class RateLimitHeaders:
    """The provider's view of the budget; None where a header is absent or unreadable."""

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


def parse_ratelimit_headers(headers: Mapping[str, str]) -> RateLimitHeaders | None:
    """The ``x-ratelimit-*`` headers of a response, or None when it carries none.

    Works with plain dicts in any letter case as well as httpx's case-insensitive headers.
    """
    found = {
        name.lower()[len(_PREFIX) :]: value
        for name, value in headers.items()
        if name.lower().startswith(_PREFIX)
    }
    if not found:
        return None
    reset_requests = found.get("reset-requests")
    reset_tokens = found.get("reset-tokens")
    parsed = RateLimitHeaders(
        limit_requests=_count(found.get("limit-requests")),
        limit_tokens=_count(found.get("limit-tokens")),
        remaining_requests=_count(found.get("remaining-requests")),
        remaining_tokens=_count(found.get("remaining-tokens")),
        reset_requests=parse_duration(reset_requests) if reset_requests is not None else None,
        reset_tokens=parse_duration(reset_tokens) if reset_tokens is not None else None,
    )
    return None if parsed == RateLimitHeaders() else parsed

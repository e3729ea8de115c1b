"""x-ratelimit-* headers and OpenAI's duration format."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from respq.worker.ratelimit_headers import RateLimitHeaders, parse_duration, parse_ratelimit_headers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("2m59.56s", 179.56),
        ("12ms", 0.012),
        ("1h2m3s", 3723.0),
        ("20", 20.0),
        ("0.5", 0.5),
        ("0s", 0.0),
        ("1h", 3600.0),
        ("7m", 420.0),
        (" 3s ", 3.0),
        ("150µs", 0.00015),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "abc", "1x", "-1s", "1s2", "1.5.3s", "m1s"])
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59_999))
def test_parse_duration_go_format(hours: int, minutes: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{millis / 1000}s"
    assert parse_duration(text) == pytest.approx(hours * 3600 + minutes * 60 + millis / 1000)


def test_parse_headers_any_case_and_httpx() -> None:
    raw = {
        "X-RateLimit-Limit-Requests": "500",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-remaining-tokens": "199000",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-reset-tokens": "6m0s",
        "content-type": "application/json",
    }
    expected = RateLimitHeaders(500, 200_000, 499, 199_000, 0.12, 360.0)
    assert parse_ratelimit_headers(raw) == expected
    assert parse_ratelimit_headers(httpx.Headers(raw)) == expected


def test_parse_headers_absent_or_garbage() -> None:
    assert parse_ratelimit_headers({"content-type": "text/plain"}) is None
    assert parse_ratelimit_headers({"x-ratelimit-limit-requests": "lots"}) is None
    partial = parse_ratelimit_headers({"x-ratelimit-remaining-tokens": "0"})
    assert partial == RateLimitHeaders(remaining_tokens=0)

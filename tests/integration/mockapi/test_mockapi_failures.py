"""mockapi's rate limits (OpenAI's 429 body and x-ratelimit headers, a sliding window of
requests and tokens) and its injected failures (HTTP errors, bad bodies, resets, hangs,
latency), reproducible by seed and changed at run time through /_control."""

from __future__ import annotations

import httpx
import orjson
import pytest

from respq.mockapi import MockConfig, MockServer, format_duration
from respq.mockapi.ratelimit import SlidingWindowLimiter

from helpers.mockapi import STREAM_ORDER, create, sse_events

# -- rate limits -------------------------------------------------------------------------


def test_rate_limit_requests() -> None:
    with MockServer(MockConfig(rpm=5)) as srv, httpx.Client(base_url=srv.base_url) as c:
        ok = [create(c) for _ in range(5)]
        assert [r.status_code for r in ok] == [200] * 5
        assert [r.headers["x-ratelimit-remaining-requests"] for r in ok] == list("43210")
        assert ok[0].headers["x-ratelimit-limit-requests"] == "5"
        assert ok[0].headers["x-ratelimit-reset-requests"].endswith("s")
        assert "x-ratelimit-limit-tokens" not in ok[0].headers
        r = create(c)
        assert r.status_code == 429
        error = r.json()["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert error["type"] == "requests"
        assert error["message"].startswith("Rate limit reached for gpt-5.4")
        assert 58 <= int(r.headers["retry-after"]) <= 60
        assert 58_000 <= int(r.headers["retry-after-ms"]) <= 60_000
        assert r.headers["x-ratelimit-remaining-requests"] == "0"
        assert r.headers["x-ratelimit-limit-requests"] == "5"
        assert "x-request-id" in r.headers
        stats = srv.stats()
        assert stats["rate_limited"] == 1
        assert stats["max_requests_in_window"] == 5
        assert stats["by_status"] == {"200": 5, "429": 1}
        srv.reset()
        assert create(c).status_code == 200


def test_rate_limit_tokens() -> None:
    with MockServer(MockConfig(tpm=100)) as srv, httpx.Client(base_url=srv.base_url) as c:
        # cost = input tokens (ceil(40/4) = 10) + max_output_tokens (30) = 40
        body = {"input": "y" * 40, "max_output_tokens": 30}
        first, second = create(c, **body), create(c, **body)
        assert (first.status_code, second.status_code) == (200, 200)
        assert first.headers["x-ratelimit-remaining-tokens"] == "60"
        assert second.headers["x-ratelimit-remaining-tokens"] == "20"
        assert second.headers["x-ratelimit-limit-tokens"] == "100"
        third = create(c, **body)
        assert third.status_code == 429
        assert third.json()["error"]["type"] == "tokens"
        assert int(third.headers["retry-after-ms"]) > 50_000
        # a cheaper request still fits: the rejected one consumed nothing
        assert create(c, input="z" * 40, max_output_tokens=10).status_code == 200
        assert srv.stats()["max_tokens_in_window"] == 100


def test_limiter_window_slides() -> None:
    limiter = SlidingWindowLimiter()
    for t in range(3):
        assert limiter.check(float(t), 10, rpm=3, tpm=0).allowed
    denied = limiter.check(10.0, 10, rpm=3, tpm=0)
    assert not denied.allowed
    assert denied.limited_by == "requests"
    assert denied.retry_after == pytest.approx(50.0)
    assert limiter.check(60.0, 10, rpm=3, tpm=0).allowed  # t=0 left the window
    assert limiter.max_requests_in_window == 3
    assert limiter.max_tokens_in_window == 30
    tokens = SlidingWindowLimiter()
    assert tokens.check(0.0, 60, rpm=0, tpm=100).allowed
    assert tokens.check(30.0, 30, rpm=0, tpm=100).allowed
    denied = tokens.check(40.0, 50, rpm=0, tpm=100)
    assert denied.limited_by == "tokens"
    assert denied.retry_after == pytest.approx(20.0)
    assert tokens.check(60.0, 50, rpm=0, tpm=100).allowed


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1.0, "1s"),
        (360.0, "6m0s"),
        (0.012, "12ms"),
        (179.56, "2m59.56s"),
        (0.0, "0s"),
        (59.999, "1m0s"),
        (7.5, "7.5s"),
        (3725.0, "1h2m5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# -- failure injection -------------------------------------------------------------------


def statuses(srv: MockServer, n: int) -> list[int]:
    with httpx.Client(base_url=srv.base_url) as c:
        return [create(c, input=str(i)).status_code for i in range(n)]


def test_failure_injection_is_reproducible() -> None:
    config = MockConfig(seed=42, fail_rate=0.5, fail_mix="500,503,garbage")
    with MockServer(config) as a:
        first = statuses(a, 30)
        kinds = [e["failure"] for e in a.stats()["request_log"]]
        a.reset()
        assert statuses(a, 30) == first  # reset reseeds
    with MockServer(config) as b:
        assert statuses(b, 30) == first
        assert [e["failure"] for e in b.stats()["request_log"]] == kinds
    assert {500, 503, 200} <= set(first)
    assert 5 < sum(k is not None for k in kinds) < 25


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [("500", 500, "server_error"), ("503", 503, "server_error"), ("429", 429, "requests")],
)
def test_injected_http_errors(
    srv: MockServer, client: httpx.Client, kind: str, status: int, error_type: str
) -> None:
    srv.control(fail_rate=1.0, fail_mix=kind)
    r = create(client)
    assert r.status_code == status
    assert r.json()["error"]["type"] == error_type
    if kind == "429":
        assert r.headers["retry-after-ms"] == "100"
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert srv.stats()["failures_injected"] == {kind: 1}


def test_injected_bad_bodies(srv: MockServer, client: httpx.Client) -> None:
    srv.control(fail_rate=1.0, fail_mix="truncated")
    r = create(client)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)
    srv.control(fail_mix="nonjson")
    r = create(client)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == "<html>upstream error</html>"
    srv.control(fail_mix="garbage")
    r = create(client)
    assert r.json() == {"unexpected": True}
    srv.control(fail_mix="sse_truncated")
    r = create(client, stream=True)
    kinds = [k for k, _ in sse_events(r.text)]
    assert kinds[:4] == STREAM_ORDER
    assert kinds[4:] == ["response.output_text.delta"] * 3
    srv.control(fail_mix="truncated")
    assert "response.completed" not in create(client, stream=True).text


def test_injected_reset_and_hang(srv: MockServer, client: httpx.Client) -> None:
    srv.control(fail_rate=1.0, fail_mix="reset")
    with pytest.raises(httpx.RemoteProtocolError):
        create(client)
    srv.control(fail_mix="hang")  # hang_seconds=0.2 in this module's server
    with pytest.raises(httpx.RemoteProtocolError):
        create(client)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/responses", json={"model": "gpt-5.4"}, timeout=0.05)
    srv.control(fail_rate=0.0)
    assert create(client).status_code == 200  # the server is fine afterwards
    stats = srv.stats()
    assert stats["failures_injected"] == {"reset": 1, "hang": 2}
    assert stats["by_status"]["0"] == 3


def test_control_changes_behaviour(srv: MockServer) -> None:
    url = srv.url + "/_control"
    r = httpx.post(url, json={"fail_rate": 1.0, "fail_mix": "503"})
    assert r.status_code == 200
    assert r.json()["fail_rate"] == 1.0
    assert statuses(srv, 5) == [503] * 5
    httpx.post(url, json={"fail_rate": 0})
    assert statuses(srv, 5) == [200] * 5
    httpx.post(url, json={"rpm": 2})  # the 10 requests above are still in the window
    assert statuses(srv, 1) == [429]
    httpx.post(srv.url + "/_reset")
    assert statuses(srv, 3) == [200, 200, 429]
    assert httpx.post(url, json={"nope": 1}).status_code == 400
    assert httpx.post(url, json={"fail_mix": "explode"}).status_code == 400
    assert httpx.post(url, json={"fail_rate": 2}).status_code == 400
    assert httpx.get(url).json()["rpm"] == 2


def test_latency_applied(srv: MockServer, client: httpx.Client) -> None:
    srv.control(latency=0.15)
    r = create(client)
    assert r.status_code == 200
    assert r.elapsed.total_seconds() >= 0.14

"""The limiter learns from the upstream: a 429 starts a cool-down every limiter shares and
cuts the rate, successes restore it, usage above the estimate is charged, and rate-limit
headers tighten the configured limits; on a real Redis server and on fakeredis[lua], on a
fake clock (``helpers.limiter``).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio

from respq.contract.errors import RequestTooLarge
from respq.worker.limiter import Limits, Reservation

from helpers.limiter import SCOPE, FakeClock, LimiterFactory


async def test_cooldown_shared_and_growing(make_limiter: LimiterFactory, clock: FakeClock) -> None:
    worker_a, worker_b = make_limiter(), make_limiter()
    limits = Limits(rpm=600, tpm=0)
    assert await worker_a.on_rate_limited(SCOPE, None) == 1.0
    assert await worker_b.reserve(SCOPE, limits, 1, max_wait=5) == Reservation(True, 1.0)
    assert await worker_b.reserve(SCOPE, Limits(0, 0), 1, max_wait=0.5) == Reservation(False, 1.0)
    # a 429 from a request already in flight during the cool-down does not compound it
    clock.advance(0.5)
    assert await worker_b.on_rate_limited(SCOPE, None) == pytest.approx(1.0)
    clock.advance(1.0)
    assert await worker_b.on_rate_limited(SCOPE, None) == 2.0
    clock.advance(2.0)
    assert await worker_a.on_rate_limited(SCOPE, None) == 4.0
    clock.advance(4.0)
    assert await worker_a.on_rate_limited(SCOPE, None) == 8.0
    clock.advance(8.0)
    assert await worker_a.on_rate_limited(SCOPE, 2.5) == 2.5  # Retry-After wins
    assert await worker_b.reserve(SCOPE, Limits(0, 0), 1, max_wait=5) == Reservation(True, 2.5)


async def test_backoff_is_capped_and_reset_by_successes(
    make_limiter: LimiterFactory, clock: FakeClock
) -> None:
    limiter = make_limiter()
    for _ in range(10):
        applied = await limiter.on_rate_limited(SCOPE, None)
        clock.advance(applied)
    assert applied == 60.0
    for _ in range(5):
        await limiter.on_success(SCOPE)
    assert await limiter.on_rate_limited(SCOPE, None) == 1.0


async def test_multiplier_cuts_then_restores(
    make_limiter: LimiterFactory, client: redis.asyncio.Redis, clock: FakeClock
) -> None:
    limiter = make_limiter()
    mult_key = limiter.keys(SCOPE)[3]
    limits = Limits(rpm=60, tpm=0, margin=0.0)

    async def spacing() -> float:
        first = await limiter.reserve(SCOPE, limits, 1, max_wait=100)
        second = await limiter.reserve(SCOPE, limits, 1, max_wait=100)
        clock.advance(second.wait + 10)
        return second.wait - first.wait

    assert await spacing() == pytest.approx(1.0)
    await limiter.on_rate_limited(SCOPE, 0.0)
    assert await spacing() == pytest.approx(1 / 0.8)
    for _ in range(20):
        await limiter.on_rate_limited(SCOPE, None)
        clock.advance(61)
    assert float(await client.hget(mult_key, "m")) == pytest.approx(0.25)
    assert await spacing() == pytest.approx(4.0)
    for _ in range(10):
        await limiter.settle(SCOPE, limits, estimated=1, actual=1)
    assert float(await client.hget(mult_key, "m")) == pytest.approx(0.35)
    for _ in range(70):
        await limiter.on_success(SCOPE)
    assert float(await client.hget(mult_key, "m")) == 1.0
    assert await spacing() == pytest.approx(1.0)


async def test_settle_charges_excess_and_refunds_only_on_request(
    make_limiter: LimiterFactory, client: redis.asyncio.Redis, clock: FakeClock
) -> None:
    limiter = make_limiter()
    tok = limiter.keys(SCOPE)[1]
    limits = Limits(rpm=0, tpm=6_000, margin=0.0)  # 100 tokens/s

    async def tok_tat() -> float:
        return float(await client.get(tok)) - clock.now

    await limiter.reserve(SCOPE, limits, 1, max_wait=1)
    await limiter.settle(SCOPE, limits, estimated=1, actual=501)
    assert await tok_tat() == pytest.approx(5.01, abs=1e-3)
    await limiter.settle(SCOPE, limits, estimated=301, actual=1)
    assert await tok_tat() == pytest.approx(5.01, abs=1e-3)
    await limiter.settle(SCOPE, limits, estimated=301, actual=1, refund=True)
    assert await tok_tat() == pytest.approx(2.01, abs=1e-3)


async def test_headers_tighten_and_warn_once(
    make_limiter: LimiterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker_a, worker_b = make_limiter(), make_limiter()
    limits = Limits(rpm=600, tpm=100_000, margin=0.0)
    headers = {"X-RateLimit-Limit-Requests": "60", "X-RateLimit-Limit-Tokens": "2000"}
    with caplog.at_level(logging.WARNING, logger="respq.worker.limiter"):
        await worker_a.observe_headers(SCOPE, limits, headers)
        await worker_a.observe_headers(SCOPE, limits, headers)
    assert len([r for r in caplog.records if "RPM" in r.getMessage()]) == 1
    assert len([r for r in caplog.records if "TPM" in r.getMessage()]) == 1
    # another worker now spaces requests by the provider's 60 RPM, not the configured 600
    first = await worker_b.reserve(SCOPE, limits, 1, max_wait=10)
    second = await worker_b.reserve(SCOPE, limits, 1, max_wait=10)
    assert second.wait - first.wait == pytest.approx(1.0)
    with pytest.raises(RequestTooLarge, match="at most 2000"):
        await worker_b.reserve(SCOPE, limits, 2_001, max_wait=10)
    # a provider limit above the configured one changes nothing
    await worker_a.observe_headers("loose", limits, {"x-ratelimit-limit-requests": "6000"})
    assert (await worker_b.reserve("loose", limits, 1, max_wait=10)).wait == 0.0
    assert (await worker_b.reserve("loose", limits, 1, max_wait=10)).wait == pytest.approx(0.1)


async def test_remaining_zero_means_cooldown_until_reset(make_limiter: LimiterFactory) -> None:
    worker_a, worker_b = make_limiter(), make_limiter()
    limits = Limits(rpm=600, tpm=0)
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2.5s"}
    await worker_a.observe_headers(SCOPE, limits, headers)
    assert await worker_b.reserve(SCOPE, limits, 1, max_wait=5) == Reservation(True, 2.5)


async def test_unlimited_scope_is_free_but_honours_cooldown(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    for _ in range(3):
        assert await limiter.reserve(SCOPE, Limits(0, 0), 10**9, max_wait=0) == Reservation(
            True, 0.0
        )
    await limiter.on_rate_limited(SCOPE, 3.0)
    assert await limiter.reserve(SCOPE, Limits(0, 0), 1, max_wait=1) == Reservation(False, 3.0)


async def test_requests_that_find_the_cooldown_stale_together_share_one_read(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter()
    await limiter.on_rate_limited(SCOPE, 3.0)
    limiter._cool_seen.clear()  # stale: the next requests must read it from Redis
    reads = 0
    call = limiter._call

    async def counted(scope: str, op: str, **args: str | int | float) -> object:
        nonlocal reads
        reads += op == "cool"
        return await call(scope, op, **args)

    limiter._call = counted  # type: ignore[method-assign]
    grants = await asyncio.gather(
        *(limiter.reserve(SCOPE, Limits(0, 0), 1, max_wait=10) for _ in range(50))
    )
    assert reads == 1
    assert all(g.granted and 2.9 <= g.wait <= 3.0 for g in grants)

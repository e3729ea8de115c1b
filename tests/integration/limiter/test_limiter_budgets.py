"""Reservations keep every sliding minute within RPM and TPM, use the whole budget under
saturation, change nothing when refused, and share the budget fairly between limiters; under
both algorithms (GCRA and the sliding window), on a real Redis server and on fakeredis[lua].

Send times are exact: the limiter runs on a fake clock (``helpers.limiter``), so a granted
reservation at fake time ``t`` sends at ``t + wait``.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis.asyncio

from respq.contract.errors import RequestTooLarge
from respq.worker.limiter import Limits, RateLimiter, Reservation

from helpers.limiter import SCOPE, FakeClock, LimiterFactory


@dataclass
class Send:
    at: float
    cost: int
    worker: int


async def simulate(
    limiter: RateLimiter,
    clock: FakeClock,
    limits: Limits,
    cost: Callable[[random.Random], int],
    *,
    workers: int,
    duration: float,
    max_wait: float = 30.0,
    seed: int = 1,
) -> list[Send]:
    """Saturating workers in fake time: each asks again as soon as its last request is sent
    (or, when not granted, when told to retry)."""
    rng = random.Random(seed)
    end = clock.now + duration
    ready = [(clock.now, w) for w in range(workers)]
    heapq.heapify(ready)
    sends: list[Send] = []
    while ready:
        at, worker = heapq.heappop(ready)
        if at >= end:
            continue
        clock.now = at
        tokens = cost(rng)
        res = await limiter.reserve(SCOPE, limits, tokens, max_wait=max_wait)
        if res.granted:
            sends.append(Send(at + res.wait, tokens, worker))
            heapq.heappush(ready, (at + res.wait, worker))
        else:
            heapq.heappush(ready, (at + res.wait, worker))
    sends.sort(key=lambda s: s.at)
    return sends


def window_peaks(arrivals: list[tuple[float, int]], window: float = 60.0) -> tuple[int, int]:
    """The most requests and tokens in any strict sliding window (t − window, t]."""
    arrivals = sorted(arrivals)
    start = 0
    tokens = 0
    peak_requests = peak_tokens = 0
    for end, (at, cost) in enumerate(arrivals):
        tokens += cost
        while arrivals[start][0] <= at - window:
            tokens -= arrivals[start][1]
            start += 1
        peak_requests = max(peak_requests, end - start + 1)
        peak_tokens = max(peak_tokens, tokens)
    return peak_requests, peak_tokens


async def tat(client: redis.asyncio.Redis, key: str) -> bytes | None:
    value: bytes | None = await client.get(key)
    return value


# ---------------------------------------------------------------- safety and utilization


@pytest.mark.parametrize(
    ("limits", "low", "high"),
    [
        # tokens bind; a tenth of the requests are far above the slack (pre-wait path)
        (Limits(rpm=1000, tpm=30_000), 20, 2_000),
        # requests bind
        (Limits(rpm=120, tpm=1_000_000), 1, 5_000),
        # the same under the sliding-window algorithm
        (Limits(rpm=1000, tpm=30_000, algorithm="window"), 20, 2_000),
        (Limits(rpm=120, tpm=1_000_000, algorithm="window"), 1, 5_000),
    ],
)
async def test_no_sliding_window_violation(
    make_limiter: LimiterFactory, clock: FakeClock, limits: Limits, low: int, high: int
) -> None:
    def cost(rng: random.Random) -> int:
        return rng.randint(high // 2, high) if rng.random() < 0.1 else rng.randint(low, high // 10)

    sends = await simulate(make_limiter(), clock, limits, cost, workers=4, duration=300)
    assert len(sends) > 100
    jitter = random.Random(7)
    for delay in (lambda: 0.0, lambda: jitter.uniform(0, 0.1)):
        peak_requests, peak_tokens = window_peaks([(s.at + delay(), s.cost) for s in sends])
        assert peak_requests <= limits.rpm
        assert peak_tokens <= limits.tpm


@pytest.mark.parametrize(
    ("limits", "low", "high", "budget", "floor"),
    [
        (Limits(rpm=1000, tpm=60_000), 50, 500, "tpm", 0.97),  # costs below the slack (502)
        (Limits(rpm=300, tpm=1_000_000), 10, 100, "rpm", 0.97),
        # every request far above the slack (1-2 % of TPM each): the rate leaves room for
        # the largest one instead of every request paying a pre-wait
        (Limits(rpm=1000, tpm=30_000), 300, 600, "tpm", 0.96),
        # the sliding-window algorithm uses the whole budget whatever the costs
        (Limits(rpm=1000, tpm=30_000, algorithm="window"), 300, 600, "tpm", 0.97),
        (Limits(rpm=300, tpm=1_000_000, algorithm="window"), 10, 100, "rpm", 0.97),
    ],
)
async def test_utilization_under_saturation(
    make_limiter: LimiterFactory,
    clock: FakeClock,
    limits: Limits,
    low: int,
    high: int,
    budget: str,
    floor: float,
) -> None:
    start, duration = clock.now, 240.0
    sends = await simulate(
        make_limiter(),
        clock,
        limits,
        lambda rng: rng.randint(low, high),
        workers=4,
        duration=duration,
    )
    in_run = [s for s in sends if s.at < start + duration]
    used = sum(s.cost for s in in_run) if budget == "tpm" else len(in_run)
    allowed = (limits.tpm if budget == "tpm" else limits.rpm) * duration / 60
    assert used / allowed >= floor
    peak_requests, peak_tokens = window_peaks([(s.at, s.cost) for s in sends])
    assert peak_requests <= limits.rpm
    assert peak_tokens <= limits.tpm


async def test_pure_spacing_by_default(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    limits = Limits(rpm=60, tpm=0, margin=0.0)
    waits = [(await limiter.reserve(SCOPE, limits, 1, max_wait=100)).wait for _ in range(4)]
    assert waits == pytest.approx([0.0, 1.0, 2.0, 3.0])


async def test_burst_lets_a_fraction_go_at_once(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    limits = Limits(rpm=60, tpm=0, burst=0.1, margin=0.0)  # 6 requests at once, then 1/s
    waits = [(await limiter.reserve(SCOPE, limits, 1, max_wait=100)).wait for _ in range(9)]
    assert waits[:7] == [0.0] * 7
    assert waits[7:] == pytest.approx([1.0, 2.0])


# ---------------------------------------------------------------- atomicity and reservation


async def refused_second(
    limiter: RateLimiter, client: redis.asyncio.Redis, limits: Limits, tokens: int, max_wait: float
) -> Reservation:
    """Reserve ``tokens`` twice: the first is granted; the second, returned, must leave
    both budgets (request and token) as the first left them."""
    req, tok, *_ = limiter.keys(SCOPE)
    assert (await limiter.reserve(SCOPE, limits, tokens, max_wait=max_wait)).granted
    before = (await tat(client, req), await tat(client, tok))
    res = await limiter.reserve(SCOPE, limits, tokens, max_wait=max_wait)
    assert (await tat(client, req), await tat(client, tok)) == before
    return res


async def test_token_block_leaves_request_budget_untouched(
    make_limiter: LimiterFactory, client: redis.asyncio.Redis
) -> None:
    res = await refused_second(make_limiter(), client, Limits(rpm=600, tpm=1_000), 900, 5)
    assert not res.granted
    assert res.wait > 5


async def test_request_block_leaves_token_budget_untouched(
    make_limiter: LimiterFactory, client: redis.asyncio.Redis
) -> None:
    res = await refused_second(make_limiter(), client, Limits(rpm=2, tpm=1_000_000), 10, 1)
    assert res == Reservation(False, pytest.approx(30 / 0.99, abs=1e-3))


async def test_not_granted_reserves_nothing(make_limiter: LimiterFactory, clock: FakeClock) -> None:
    limiter = make_limiter()
    limits = Limits(rpm=60, tpm=0, margin=0.0)
    await limiter.reserve(SCOPE, limits, 1, max_wait=0)
    assert await limiter.reserve(SCOPE, limits, 1, max_wait=0.5) == Reservation(False, 1.0)
    assert await limiter.reserve(SCOPE, limits, 1, max_wait=0.5) == Reservation(False, 1.0)
    clock.advance(1.0)
    assert await limiter.reserve(SCOPE, limits, 1, max_wait=0) == Reservation(True, 0.0)


async def test_large_request_is_not_starved(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    limits = Limits(rpm=0, tpm=6_000, margin=0.0)  # 100 tokens/s, slack 1 token
    assert (await limiter.reserve(SCOPE, limits, 100, max_wait=60)).wait == 0.0
    big = await limiter.reserve(SCOPE, limits, 3_000, max_wait=60)
    assert big.granted
    # a cost far above the recent largest pays a one-off pre-wait of about (3000 − slack)
    # at ~98 tokens/s, after the small request's ~1 s
    assert 29 < big.wait < 32
    small = await limiter.reserve(SCOPE, limits, 1, max_wait=120)
    # the small request queues behind the big one's whole cost
    assert small.wait > big.wait + 30


async def test_request_too_large(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    with pytest.raises(RequestTooLarge) as info:
        await limiter.reserve(SCOPE, Limits(rpm=10, tpm=1_000), 1_001, max_wait=10)
    assert info.value.code == "request_too_large"
    assert "at most 1000 per request (TPM=1000)" in str(info.value)
    assert "~1001 tokens" in str(info.value)
    # burst above a minute raises the capacity; a whole minute's TPM always fits
    assert (await limiter.reserve(SCOPE, Limits(0, 1_000, burst=2.0), 2_000, max_wait=1)).granted
    assert (await limiter.reserve("other", Limits(0, 1_000), 1_000, max_wait=100)).granted


async def test_fair_shares_in_time(make_limiter: LimiterFactory, clock: FakeClock) -> None:
    limits = Limits(rpm=600, tpm=0)
    sends = await simulate(
        make_limiter(), clock, limits, lambda rng: 1, workers=4, duration=60, max_wait=2
    )
    counts = [sum(1 for s in sends if s.worker == w) for w in range(4)]
    for count in counts:
        assert abs(count / len(sends) - 0.25) <= 0.25 * 0.05


async def test_concurrent_limiters_never_share_a_slot(
    client: redis.asyncio.Redis, prefix: str, clock: FakeClock
) -> None:
    """Four limiter instances (= processes) racing on one connection pool."""
    limits = Limits(rpm=600, tpm=0, margin=0.0)
    limiters = [
        RateLimiter(client, key_prefix=prefix, server_clock=False, clock=clock) for _ in range(4)
    ]

    async def work(limiter: RateLimiter) -> list[float]:
        waits = []
        for _ in range(50):
            res = await limiter.reserve(SCOPE, limits, 1, max_wait=60)
            waits.append(res.wait)
        return waits

    results = await asyncio.gather(*(work(limiter) for limiter in limiters))
    waits = sorted(w for per_task in results for w in per_task)
    assert waits == pytest.approx([i * 0.1 for i in range(200)], abs=1e-5)
    assert all(len(per_task) == 50 for per_task in results)


# ---------------------------------------------------------------- sliding-window algorithm


async def test_window_mode_sends_an_idle_minute_at_once(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    limits = Limits(rpm=60, tpm=0, margin=0.0, algorithm="window")
    waits = [(await limiter.reserve(SCOPE, limits, 1, max_wait=100)).wait for _ in range(61)]
    assert waits[:60] == [0.0] * 60
    # the 61st waits for the first to leave the window (60 s + the jitter allowance)
    assert waits[60] == pytest.approx(60.1)
    refused = await limiter.reserve(SCOPE, limits, 1, max_wait=10)
    assert not refused.granted
    again = await limiter.reserve(SCOPE, limits, 1, max_wait=100)
    assert again.wait == pytest.approx(60.1)  # the refused call reserved nothing


async def test_window_mode_charges_usage_above_the_estimate(
    make_limiter: LimiterFactory, clock: FakeClock
) -> None:
    limiter = make_limiter()
    limits = Limits(rpm=0, tpm=1_000, margin=0.0, algorithm="window")
    assert (await limiter.reserve(SCOPE, limits, 400, max_wait=0)).granted
    await limiter.settle(SCOPE, limits, estimated=400, actual=900)
    clock.advance(1)
    blocked = await limiter.reserve(SCOPE, limits, 200, max_wait=0)
    assert not blocked.granted
    assert blocked.wait == pytest.approx(59.1)

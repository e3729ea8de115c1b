"""How a limiter is configured: its Limits, one cluster hash tag for a scope's keys, a client
that decodes responses, and the Redis server's clock instead of the caller's.
"""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest
import redis.asyncio

from respq.worker.limiter import Limits, RateLimiter, Reservation

from helpers.limiter import SCOPE, FakeClock, LimiterFactory


async def test_keys_share_one_cluster_hash_tag(make_limiter: LimiterFactory, prefix: str) -> None:
    keys = make_limiter().keys(SCOPE)
    tags = {key[key.index("{") : key.index("}") + 1] for key in keys}
    assert len(tags) == 1
    names = ["req", "tok", "cool", "mult", "hdr", "wreq", "wtok", "wst"]
    assert [key.rsplit(":", 1)[1] for key in keys] == names
    assert all(key.startswith(prefix + ":{") for key in keys)


async def test_decoded_client(prefix: str, clock: FakeClock) -> None:
    conn = fakeredis.FakeAsyncRedis(decode_responses=True)
    limiter = RateLimiter(conn, key_prefix=prefix, server_clock=False, clock=clock)
    limits = Limits(rpm=60, tpm=0, margin=0.0)
    assert await limiter.reserve(SCOPE, limits, 1, max_wait=0) == Reservation(True, 0.0)
    assert await limiter.reserve(SCOPE, limits, 1, max_wait=2) == Reservation(True, 1.0)
    assert await limiter.on_rate_limited(SCOPE, None) == 1.0
    await conn.aclose()


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="rpm and tpm"):
        Limits(rpm=-1, tpm=0)
    with pytest.raises(ValueError, match="margin"):
        Limits(rpm=1, tpm=0, margin=1.0)
    with pytest.raises(ValueError, match="burst"):
        Limits(rpm=1, tpm=0, burst=-0.1)


# ---------------------------------------------------------------- server clock


async def test_server_clock_real_time(real_redis: redis.asyncio.Redis, prefix: str) -> None:
    limiter = RateLimiter(real_redis, key_prefix=prefix)
    limits = Limits(rpm=600, tpm=0, margin=0.0)  # one request per 0.1 s
    began = time.monotonic()
    first = await limiter.reserve(SCOPE, limits, 1, max_wait=1)
    second = await limiter.reserve(SCOPE, limits, 1, max_wait=1)
    assert first == Reservation(True, 0.0)
    assert 0.05 < second.wait <= 0.1
    await asyncio.sleep(0.25)
    third = await limiter.reserve(SCOPE, limits, 1, max_wait=1)
    assert third.wait == 0.0
    assert time.monotonic() - began < 2


async def test_server_clock_on_fakeredis(prefix: str) -> None:
    conn = fakeredis.FakeAsyncRedis()
    limiter = RateLimiter(conn, key_prefix=prefix)
    limits = Limits(rpm=60, tpm=0, margin=0.0)
    assert (await limiter.reserve(SCOPE, limits, 1, max_wait=1)).wait == 0.0
    assert 0.9 < (await limiter.reserve(SCOPE, limits, 1, max_wait=1)).wait <= 1.0
    await conn.aclose()

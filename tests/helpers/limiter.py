"""The shared rate limiter under test, on a real Redis server and on fakeredis[lua].

Most limiter tests run in client-clock mode with a fake clock, so simulated minutes take
milliseconds and every send time is exact: a granted reservation at fake time ``t`` sends at
``t + wait``. The fixtures carry ``name=`` so that tests/integration/limiter/conftest.py,
which draws them in for every limiter test module, imports them under other names.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import fakeredis
import pytest
import redis.asyncio

from respq.worker.limiter import RateLimiter

from helpers.databases import Database

SCOPE = "https://api.example.test/v1|gpt-test"

LimiterFactory = Callable[..., RateLimiter]


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(name="client", params=["redis", "fakeredis"])
async def client_fixture(request: pytest.FixtureRequest) -> AsyncIterator[redis.asyncio.Redis]:
    """The same tests on the real Redis (the module's database) and on fakeredis[lua]."""
    if request.param == "fakeredis":
        conn = fakeredis.FakeAsyncRedis()
    else:
        conn = redis.asyncio.Redis.from_url(request.getfixturevalue("db").url)
    yield conn
    await conn.aclose()


@pytest.fixture(name="real_redis")
async def real_redis_fixture(db: Database) -> AsyncIterator[redis.asyncio.Redis]:
    conn = redis.asyncio.Redis.from_url(db.url)
    yield conn
    await conn.aclose()


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="prefix")
async def prefix_fixture(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    value = f"respq:test:{uuid.uuid4().hex}"
    yield value
    for name in ("client", "real_redis"):
        if name in request.fixturenames:
            conn: redis.asyncio.Redis = request.getfixturevalue(name)
            keys = [key async for key in conn.scan_iter(match=f"{value}:*")]
            if keys:
                await conn.delete(*keys)


@pytest.fixture(name="make_limiter")
def make_limiter_fixture(
    client: redis.asyncio.Redis, prefix: str, clock: FakeClock
) -> LimiterFactory:
    def make(**kwargs: object) -> RateLimiter:
        options: dict[str, object] = {"key_prefix": prefix, "server_clock": False, "clock": clock}
        options.update(kwargs)
        return RateLimiter(client, **options)  # type: ignore[arg-type]

    return make

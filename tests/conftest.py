"""Fixtures: fakeredis (with Lua) for fast unit tests, the real Redis for integration
tests, and mockapi served over real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis
from redis.asyncio import Redis

from mockapi import MockConfig, MockServer
from producer import BatchClient, ClientSettings

REDIS_URL = os.environ.get("RESPQ_TEST_REDIS_URL", "redis://127.0.0.1:6379")
CORE_DB = 2


@pytest.fixture(autouse=True)
def _no_redis_info_on_fakeredis(monkeypatch: pytest.MonkeyPatch) -> None:
    # arq logs INFO at start-up, a command fakeredis lacks.
    async def quiet(*_: object, **__: object) -> None:
        return None

    monkeypatch.setattr("arq.worker.log_redis_info", quiet)


@pytest.fixture
def queue_name() -> str:
    """A queue of its own per test, so tests never pick up each other's jobs."""
    return f"respq-test:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def fake_redis() -> AsyncIterator[FakeRedis]:
    client = FakeRedis(server=FakeServer(), decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
async def fake_client(fake_redis: FakeRedis, queue_name: str) -> BatchClient:
    return BatchClient(fake_redis, ClientSettings(queue_name=queue_name, chunk_size=4))


@pytest.fixture
def real_redis_url() -> str:
    return f"{REDIS_URL}/{CORE_DB}"


@pytest.fixture
async def real_redis(real_redis_url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(real_redis_url)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - CI starts Redis first
        pytest.fail(f"integration tests need Redis at {real_redis_url}: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def real_client(
    real_redis_url: str, queue_name: str, real_redis: Redis
) -> AsyncIterator[BatchClient]:
    async with BatchClient.from_url(real_redis_url, queue_name=queue_name, chunk_size=4) as c:
        yield c


@pytest.fixture(scope="module")
def mock_upstream() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="test-key")) as server:
        yield server

"""Fixtures shared by every test folder: fakeredis (with Lua) for fast unit tests, a
database of the shared Redis for integration tests (``db``, from the one registry in
helpers/databases.py), mockapi served over real HTTP, and a whole ``respq serve`` stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, ClientSettings
from respq.mockapi import MockConfig, MockServer
from respq.producer.models_check import DEFAULT_LISTER

from helpers.cli import env_for
from helpers.databases import Database, database_number
from helpers.factories import unique_queue
from helpers.server import Stack, server_stack


@pytest.fixture(autouse=True)
def _no_redis_info_on_fakeredis(monkeypatch: pytest.MonkeyPatch) -> None:
    # arq logs INFO at start-up, a command fakeredis lacks.
    async def quiet(*_: object, **__: object) -> None:
        return None

    monkeypatch.setattr("arq.worker.log_redis_info", quiet)


@pytest.fixture
def queue_name() -> str:
    """A queue of its own per test, so tests never pick up each other's jobs."""
    return unique_queue()


@pytest.fixture
async def fake_redis() -> AsyncIterator[FakeRedis]:
    client = FakeRedis(server=FakeServer(), decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
async def fake_client(fake_redis: FakeRedis, queue_name: str) -> BatchClient:
    return BatchClient(fake_redis, ClientSettings(queue_name=queue_name, chunk_size=4))


def _database(request: pytest.FixtureRequest) -> Database:
    return Database(database_number(request.module.__name__)).open()


@pytest.fixture
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The test module's database of the shared Redis, flushed before the test and after."""
    database = _database(request)
    yield database
    database.close()


@pytest.fixture
async def real_client(db: Database, queue_name: str) -> AsyncIterator[BatchClient]:
    """A producer on the module's database of the shared Redis."""
    async with BatchClient.from_url(db.url, queue_name=queue_name, chunk_size=4) as client:
        yield client


@pytest.fixture
def env(db: Database, queue_name: str) -> dict[str, str]:
    """RESPQ_* settings for an in-process ``respq`` on the module's database and the test's
    queue."""
    return env_for(db, queue_name)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    """mockapi without an API key, over HTTP, for the whole module."""
    with MockServer(MockConfig(seed=7)) as server:
        yield server


@pytest.fixture(scope="module")
def mock_upstream() -> Iterator[MockServer]:
    with MockServer(MockConfig(api_key="test-key")) as server:
        yield server


@pytest.fixture
def fresh_model_list() -> Iterator[None]:
    """The pre-flight model check caches each upstream's model list in the process: start
    and end with none."""
    DEFAULT_LISTER.clear()
    yield
    DEFAULT_LISTER.clear()


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """mockapi + a worker process + ``respq serve`` on the module's database, for the whole
    module (the database is flushed before and after, not between its tests)."""
    database = _database(request)
    try:
        with server_stack(tmp_path_factory.mktemp("server"), database) as running:
            yield running
    finally:
        database.close()

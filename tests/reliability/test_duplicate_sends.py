"""Sends the provider bills twice, against real worker processes and a private Redis:
while Redis refuses writes (``maxmemory``) no answer received is thrown away, and a
worker frozen (SIGSTOP) for three leases sends, once resumed, nothing the other worker
took over meanwhile — only what was already on the wire when it froze goes twice."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from respq import Batch, BatchClient, BatchStatus
from respq.contract.constants import WORKER_INFO_PREFIX
from respq.mockapi import MockConfig, MockServer

from helpers.factories import tagged_items
from helpers.polling import wait_until
from helpers.processes import Managed, start_worker
from helpers.redis_servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(150)]

LEASE_S = 3
N = 300  # requests in a test's batch


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own: it is made to refuse writes, or outlives a frozen worker."""
    with RedisServer(tmp_path / "redis") as running:
        yield running


@pytest.fixture
def sync(server: RedisServer) -> Iterator[redis.Redis]:
    with server.client() as client:
        yield client


@asynccontextmanager
async def tagged_batch(server: RedisServer, queue: str, n: int) -> AsyncIterator[Batch]:
    """A batch of ``n`` tagged items (``helpers.factories``) in jobs of 8, and its client
    open until the block ends."""
    async with BatchClient.from_url(server.url(0), queue_name=queue, chunk_size=8) as client:
        yield await client.submit(tagged_items(n))


def sends(log: Iterable[dict[str, Any]]) -> Counter[str]:
    """Upstream sends per custom_id in a mockapi request log."""
    return Counter(e["metadata"]["custom_id"] for e in log if e.get("metadata"))


def worker(
    tmp_path: Path, name: str, server: RedisServer, queue: str, base_url: str, **extra: Any
) -> Managed:
    return start_worker(
        tmp_path / f"{name}.log",
        redis_url=server.url(0),
        queue_name=queue,
        base_url=base_url,
        lease_seconds=LEASE_S,
        log_level="INFO",
        **extra,
    )


async def test_answers_received_while_redis_refuses_writes_are_kept_not_asked_again(
    tmp_path: Path, queue_name: str, server: RedisServer, sync: redis.Redis
) -> None:
    with (
        # slow answers: when Redis starts refusing, each worker has 16 requests out
        MockServer(MockConfig(latency=0.5, seed=3)) as mock,
        worker(tmp_path, "w1", server, queue_name, mock.base_url, worker_in_flight=16) as w1,
        worker(tmp_path, "w2", server, queue_name, mock.base_url, worker_in_flight=16) as w2,
    ):
        async with tagged_batch(server, queue_name, N) as batch:
            wait_until(
                lambda: int(sync.hget(batch.keys.meta, "completed") or 0) >= 60, 30, "progress"
            )
            sync.config_set("maxmemory", "1")  # every write that needs memory refused
            refused_at = time.monotonic()
            # What is out now is answered while Redis refuses its write-back.
            answered_meanwhile = mock.stats()["in_flight"]
            # The outcomes wait unwritten for two leases: their leases must hold.
            wait_until(
                lambda: (
                    time.monotonic() - refused_at >= 2 * LEASE_S and mock.stats()["in_flight"] == 0
                ),
                30,
                "two leases at maxmemory",
            )
            sync.config_set("maxmemory", "0")
            info = await batch.wait(timeout=60, poll_interval=0.1)
        assert w1.alive() and w2.alive()
        sent = sends(mock.stats()["request_log"])
    duplicates = {cid: count for cid, count in sent.items() if count > 1}
    print(
        f"\nRedis at maxmemory for {2 * LEASE_S}s mid-batch ({N} requests, 2 workers): "
        f"{answered_meanwhile} answers received meanwhile, {len(duplicates)} sent twice"
    )
    assert info.status is BatchStatus.COMPLETED
    assert info.request_counts.completed == N
    assert answered_meanwhile > 0, "no answer arrived while Redis refused writes"
    assert set(sent) == {f"r{i}" for i in range(N)}
    assert duplicates == {}


async def test_a_worker_resumed_after_a_freeze_sends_nothing_another_took_over(
    tmp_path: Path, queue_name: str, server: RedisServer, sync: redis.Redis
) -> None:
    # One mock each: the frozen worker's log is exactly what it sent.
    with (
        MockServer(MockConfig(latency=0.3, seed=1)) as frozen_mock,
        MockServer(MockConfig(latency=0.3, seed=2)) as other_mock,
        # 4 slots, 8 jobs of 8 requests picked ahead: most of its claims wait for a slot
        worker(
            tmp_path, "frozen", server, queue_name, frozen_mock.base_url, worker_in_flight=4
        ) as frozen,
        worker(
            tmp_path, "other", server, queue_name, other_mock.base_url, worker_in_flight=16
        ) as other,
    ):
        async with tagged_batch(server, queue_name, N) as batch:
            wait_until(
                lambda: (
                    len(frozen_mock.stats()["request_log"]) >= 12
                    and frozen_mock.stats()["in_flight"] >= 2
                ),
                30,
                "the worker to freeze is sending",
                interval=0.01,
            )
            frozen.signal(signal.SIGSTOP)
            stopped_at = time.monotonic()
            # mockapi logs a request when it arrives: sent, and not recorded, at the stop
            log_at_stop = frozen_mock.stats()["request_log"]
            recorded = {cid.decode() for cid in sync.hkeys(batch.keys.res)}
            on_the_wire = set(sends(log_at_stop)) - recorded
            # The other worker takes over once the leases lapse and finishes the batch.
            wait_until(
                lambda: (
                    time.monotonic() - stopped_at >= 3 * LEASE_S
                    and sync.hget(batch.keys.meta, "status") == b"completed"
                ),
                60,
                "the batch completed by the other worker",
            )
            frozen.signal(signal.SIGCONT)
            resumed_at = time.time()

            def frozen_idle_again() -> bool:
                info = {
                    k.decode(): v.decode()
                    for key in sync.keys(f"{WORKER_INFO_PREFIX}*:{frozen.pid}")
                    for k, v in sync.hgetall(key).items()
                }
                return int(info.get("seen_at", 0)) > resumed_at + 1 and info.get("jobs") == "0"

            wait_until(frozen_idle_again, 30, "the resumed worker done with its old jobs")
            info = await batch.status()
        after = frozen_mock.stats()["request_log"]
        assert frozen.alive() and other.alive()
        all_sends = sends(after) + sends(other_mock.stats()["request_log"])
    after_waking = sends(after[len(log_at_stop) :])
    duplicates = {cid for cid, count in all_sends.items() if count > 1}
    print(
        f"\nworker frozen {3 * LEASE_S}s+ (lease {LEASE_S}s): {len(on_the_wire)} request(s) on "
        f"the wire when it froze, {sum(after_waking.values())} sent after it woke, "
        f"{len(duplicates)} sent twice in all"
    )
    assert info.status is BatchStatus.COMPLETED and info.request_counts.completed == N
    assert set(all_sends) == {f"r{i}" for i in range(N)}
    assert after_waking == Counter()
    assert duplicates <= on_the_wire

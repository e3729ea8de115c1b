"""Redis and upstream faults mid-batch, as docker-compose runs Redis (AOF,
``appendfsync everysec``) and with no supervisor to restart a worker: a graceful Redis
restart, a ``kill -9`` restart, an OS crash that cuts the AOF's last second, and an
upstream that refuses connections for 5 s. Every run ends with every worker alive, the
batch completed, each custom_id exactly once and usage totals equal to the sum over the
results (the reconciler finds what a cut AOF stranded)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from respq import BatchClient, BatchInfo, BatchStatus
from respq.contract.audit import Auditor
from respq.contract.constants import WORKER_INFO_PREFIX, WORKERS_KEY
from respq.mockapi import MockConfig, MockServer

from helpers.factories import tagged_items
from helpers.polling import wait_for_results, wait_until_async
from helpers.ports import free_port
from helpers.processes import Managed, start_mockapi, start_worker
from helpers.redis_servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEASE_S = 6
N = 240


@contextmanager
def workers(
    tmp_path: Path, server: RedisServer, queue_name: str, base_url: str, **settings: Any
) -> Iterator[list[Managed]]:
    with ExitStack() as stack:
        procs = [
            stack.enter_context(
                start_worker(
                    tmp_path / f"w{n}.log",
                    redis_url=server.url(0),
                    queue_name=queue_name,
                    base_url=base_url,
                    lease_seconds=LEASE_S,
                    worker_in_flight=16,
                    **settings,
                )
            )
            for n in range(3)
        ]
        yield procs


async def check_exactly_once(client: BatchClient, batch_id: str, n: int) -> BatchInfo:
    batch = await client.get(batch_id)
    info = await batch.status()
    lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    assert info.status is BatchStatus.COMPLETED
    assert info.request_counts.total == n and info.done == n
    assert sorted(line["custom_id"] for line in lines) == sorted(f"r{i}" for i in range(n))
    ok = [line for line in lines if line["error"] is None]
    assert info.usage.total_tokens == sum(
        line["response"]["body"]["usage"]["total_tokens"] for line in ok
    )
    auditor = Auditor(client.redis, queue_name=client.settings.queue_name)
    assert (await auditor.counters(batch_id)).drift == {}
    assert (await auditor.requests(batch_id)).recorded == n
    return info


async def run_through_redis_fault(
    tmp_path: Path,
    queue_name: str,
    fault: Callable[[RedisServer], None],
    mock_config: MockConfig | None = None,
) -> tuple[BatchInfo, float, list[dict[str, str]]]:
    """N requests through 3 workers; ``fault`` strikes after the first 60 results.
    Returns the final status, seconds from Redis' return to completion, and each
    worker's info hash."""
    server = RedisServer(tmp_path / "redis", appendfsync="everysec").start()
    sync = server.client()
    try:
        with (
            MockServer(mock_config or MockConfig(latency=0.02)) as mock,
            workers(tmp_path, server, queue_name, mock.base_url) as procs,
        ):
            async with BatchClient.from_url(
                server.url(0), queue_name=queue_name, chunk_size=4
            ) as client:
                batch = await client.submit(tagged_items(N))
                wait_for_results(sync, batch.keys.meta, 60, 60)
                fault(server)
                back_at = time.monotonic()
                await batch.wait(timeout=4 * LEASE_S + 30, poll_interval=0.1)
                took = time.monotonic() - back_at
                info = await check_exactly_once(client, batch.id, N)
            dead = [p.output()[-3000:] for p in procs if not p.alive()]
            assert not dead, f"{len(dead)} worker(s) exited:\n{dead[0]}"

            def worker_infos() -> list[dict[str, str]]:
                ids = [m.decode() for m in sync.zrange(WORKERS_KEY, 0, -1)]
                return [
                    {
                        k.decode(): v.decode()
                        for k, v in sync.hgetall(WORKER_INFO_PREFIX + i).items()
                    }
                    for i in ids
                ]

            # A worker reports its Redis state with its next heartbeat: give each one that
            # long to say the outage is over before reading what they report.
            deadline = time.monotonic() + 2 * LEASE_S
            infos = worker_infos()
            while time.monotonic() < deadline and any(i.get("redis") != "ok" for i in infos):
                time.sleep(0.2)
                infos = worker_infos()
    finally:
        sync.close()
        server.kill()
    return info, took, infos


async def test_graceful_redis_restart_mid_batch(tmp_path: Path, queue_name: str) -> None:
    def restart(server: RedisServer) -> None:
        server.stop()  # SIGTERM: Redis writes its AOF and exits
        time.sleep(1.0)
        server.start()

    info, took, infos = await run_through_redis_fault(tmp_path, queue_name, restart)
    print(f"\ngraceful restart: completed {took:.1f}s after Redis returned")
    assert info.request_counts.completed == N
    # respq workers shows each worker's Redis state (an outage short enough for redis-py's
    # reconnect retries is ridden out below the poll loop and not counted as one)
    assert len(infos) == 3 and all(i.get("redis") == "ok" for i in infos)


async def test_kill_9_redis_restart_mid_batch(tmp_path: Path, queue_name: str) -> None:
    def crash(server: RedisServer) -> None:
        server.kill()
        time.sleep(1.0)
        server.start()

    info, took, _ = await run_through_redis_fault(tmp_path, queue_name, crash)
    print(f"\nkill -9 restart: completed {took:.1f}s after Redis returned")
    assert info.request_counts.completed == N


async def test_os_crash_that_cuts_the_aof_tail_strands_nothing(
    tmp_path: Path, queue_name: str
) -> None:
    cut: list[int] = []

    def os_crash(server: RedisServer) -> None:
        size = server.aof_tail().stat().st_size
        time.sleep(1.0)  # everysec: an OS crash loses up to the last second of writes
        server.kill()
        cut.append(server.cut_aof(size))
        server.start()

    # Jobs of about a second straddle the crash: their results written in the lost
    # second vanish, yet the job finishes after Redis returns and arq deletes it. Only
    # the reconciler then finds those requests.
    slow = MockConfig(latency=0.6, jitter=0.4)
    info, took, infos = await run_through_redis_fault(tmp_path, queue_name, os_crash, slow)
    requeued = sum(int(i.get("requeued", 0)) for i in infos)
    print(
        f"\nAOF tail cut ({cut[0]} bytes): {requeued} stranded request(s) re-queued, "
        f"completed {took:.1f}s after Redis returned"
    )
    assert cut[0] > 0
    assert info.request_counts.completed == N
    assert took <= 2 * LEASE_S


async def test_upstream_refusing_connections_for_5s(tmp_path: Path, queue_name: str) -> None:
    n = 200
    port = free_port()
    server = RedisServer(tmp_path / "redis", appendfsync="everysec").start()
    mock, base_url = start_mockapi(tmp_path / "mock1.log", "--latency", "0.02", port=port)
    try:
        # 1,200 RPM spreads the batch over ~10 s, so the outage falls between requests
        # (refused connections) rather than inside them.
        with workers(
            tmp_path,
            server,
            queue_name,
            base_url,
            rpm=1200,
            max_attempts=3,  # backoffs under 1.5 s in all: early requests run out
            retry_base=0.5,
            retry_cap=1,
        ) as procs:
            async with BatchClient.from_url(
                server.url(0), queue_name=queue_name, chunk_size=4
            ) as client:
                batch = await client.submit(tagged_items(n))

                async def progress() -> bool:
                    return (await batch.status()).done >= 20

                await wait_until_async(progress, 30, "progress")
                mock.kill()  # connections are refused from now on
                await asyncio.sleep(5.0)
                mock, _ = start_mockapi(tmp_path / "mock2.log", "--latency", "0.02", port=port)
                await batch.wait(timeout=90, poll_interval=0.1)
                info = await check_exactly_once(client, batch.id, n)
                codes = {line.code async for line in batch.results() if line.code}
            assert all(p.alive() for p in procs)
    finally:
        mock.kill()
        server.kill()
    failed = info.request_counts.failed
    print(f"\nupstream refused 5s: {failed} of {n} ran out of attempts ({codes or '-'})")
    assert info.request_counts.completed >= n // 4  # retries got through after the outage
    assert failed >= 1 and codes == {"connection_error"}

"""Redis going away: restarted mid-batch (AOF with ``appendfsync everysec``, as
docker-compose runs it) the workers and producers reconnect and the batch completes with
nothing lost and nothing sent twice; down at submit, the producer fails with a clear
RedisUnavailable that never shows the password, and nothing is written to the server it
targeted. (tests/reliability/test_redis_faults.py has the kill -9 and cut-AOF cases.)"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from respq import BatchClient, BatchStatus, RedisUnavailable
from respq.mockapi import MockConfig, MockServer

from helpers.factories import tagged_items
from helpers.polling import wait_for_results, wait_until
from helpers.ports import free_port
from helpers.processes import start_worker
from helpers.redis_servers import RedisServer

pytestmark = [pytest.mark.integration]


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_redis_restart_mid_batch_loses_nothing(tmp_path: Path, queue_name: str) -> None:
    n = 400
    server = RedisServer(tmp_path / "redis", appendfsync="everysec").start()
    url = server.url(0)
    sync = server.client()
    workers = []
    try:
        with MockServer(MockConfig(latency=0.1)) as mock:
            for name in ("w1", "w2"):
                workers.append(
                    start_worker(
                        tmp_path / f"{name}.log",
                        redis_url=url,
                        queue_name=queue_name,
                        base_url=mock.base_url,
                        worker_in_flight=16,
                    )
                )
            async with BatchClient.from_url(url, queue_name=queue_name, chunk_size=4) as client:
                batch = await client.submit(tagged_items(n))
                wait_for_results(sync, batch.keys.meta, 80, 30)
                server.stop()  # SIGTERM: Redis goes away with requests in flight
                down_at = time.monotonic()
                # While it is down the producer fails fast and clearly, then recovers.
                with pytest.raises(RedisUnavailable):
                    await batch.status()
                # Requests in flight finish upstream while Redis is down.
                wait_until(lambda: mock.stats()["in_flight"] == 0, 10, "upstream idle")
                server.start()
                downtime = time.monotonic() - down_at
                info = await batch.wait(timeout=90, poll_interval=0.1)
                lines = [orjson.loads(raw) async for raw in batch.result_lines()]
            log = mock.stats()["request_log"]
        assert all(w.alive() for w in workers), "a worker died with Redis"
    finally:
        for w in workers:
            w.kill()
        sync.close()
        server.kill()
    sent = [e["metadata"]["custom_id"] for e in log if e.get("metadata")]
    print(f"\nRedis restart: down {downtime:.1f}s; {len(sent) - len(set(sent))} duplicate send(s)")
    # A graceful stop writes the AOF out: every claim and result survives, so no request
    # is sent twice (a kill -9 or a cut AOF may resend; see test_redis_faults.py).
    assert sorted(sent) == sorted(set(sent)), "a request was sent twice"
    assert info.status is BatchStatus.COMPLETED
    assert (info.request_counts.total, info.request_counts.completed) == (n, n)
    assert info.request_counts.failed == 0
    assert sorted(line["custom_id"] for line in lines) == sorted(f"r{i}" for i in range(n))
    assert info.usage.total_tokens == sum(
        line["response"]["body"]["usage"]["total_tokens"] for line in lines
    )
    assert set(sent) == {f"r{i}" for i in range(n)}


async def test_redis_down_at_submit_is_a_clear_error_without_password(
    tmp_path: Path, queue_name: str
) -> None:
    server = RedisServer(tmp_path / "redis", password="secret-pw").start()
    with server.client() as sync:
        sync.set("before", "1")
    server.stop()  # the AOF holds exactly one key
    url = server.url(0)
    client = BatchClient.from_url(url, queue_name=queue_name)
    started = time.monotonic()
    try:
        with pytest.raises(RedisUnavailable) as caught:
            await client.submit(tagged_items(3))
    finally:
        await client.close()
    message = str(caught.value)
    assert f"127.0.0.1:{server.port}" in message
    assert "secret-pw" not in message and "secret-pw" not in repr(caught.value)
    assert "***" in message
    assert time.monotonic() - started < 10
    # Nothing half-written: the same server, back from its own AOF, holds only its key.
    server.start()
    try:
        with server.client() as sync:
            assert sync.keys("*") == [b"before"]
    finally:
        server.kill()


async def test_redis_dies_between_submits_leaves_no_partial_batch(
    tmp_path: Path, queue_name: str
) -> None:
    """A submit that fails at its first write leaves no batch record and no job."""
    with RedisServer(tmp_path / "r") as server:
        url = server.url(0)
        async with BatchClient.from_url(url, queue_name=queue_name) as client:
            await client.ping()
            server.stop()
            with pytest.raises(RedisUnavailable):
                await client.submit(tagged_items(5))
            server.start()
            with server.client() as sync:
                assert sync.dbsize() == 0
            # The same client reconnects once Redis is back.
            batch = await client.submit(tagged_items(5))
            assert (await batch.status()).request_counts.total == 5


def test_cli_submit_with_redis_down_exits_3_without_password(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"model": "gpt-5.4", "input": "hi"}\n')
    url = f"redis://:secret-pw@127.0.0.1:{free_port()}/0"
    out = subprocess.run(
        [sys.executable, "-m", "respq.producer.cli", "--redis-url", url, "submit", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 3, out.stderr
    assert "secret-pw" not in out.stdout + out.stderr
    assert "cannot reach Redis" in out.stderr


def test_private_redis_survives_restart_with_aof(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "aof") as server:
        with server.client() as sync:
            sync.set("k", "v")
        server.restart()
        with server.client() as sync:
            assert sync.get("k") == b"v"
        server.kill()
        server.start()
        with server.client() as sync:
            # appendfsync always: even SIGKILL loses nothing acknowledged.
            assert sync.get("k") == b"v"

"""Security: a pickle planted in Redis is refused by a real worker; the API key reaches no
Redis key or value, no log and no result; password and TLS Redis URLs work and the
password is never printed."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from arq.connections import create_pool
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.constants import ARQ_JOB_PREFIX
from respq.mockapi import MockConfig, MockServer
from respq.worker import WorkerConfig, redis_settings

from helpers.cli import respq
from helpers.databases import Database
from helpers.factories import items, unique_queue, write_jsonl
from helpers.polling import wait_until
from helpers.ports import free_port
from helpers.processes import start_mockapi, start_worker, subprocess_env
from helpers.redis_servers import RedisServer, make_tls_files
from helpers.workers import build_worker, run_burst

API_KEY = "sk-SECRET-4f9a7c1e2b"
REDIS_PASSWORD = "pw-SECRET-77ad"
UPSTREAM_PASSWORD = "up-SECRET-0b3e"


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def dump_everything(client: redis.Redis) -> bytes:
    """Every key and every value of every type in the database, as one blob."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            parts.append(client.get(key) or b"")
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind == "list":
            parts += client.lrange(key, 0, -1)
        elif kind == "set":
            parts += list(client.smembers(key))
        elif kind == "zset":
            parts += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            parts += [orjson.dumps(entry, default=repr) for entry in client.xrange(key)]
        else:
            parts.append(kind.encode())
    return b"\n".join(parts)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_pickled_job_on_real_redis_is_refused_by_a_worker_process(
    tmp_path: Path, queue_name: str, db: Database
) -> None:
    marker = tmp_path / "pwned"
    sync = db.redis
    sync.set(ARQ_JOB_PREFIX + "evil", pickle.dumps({"f": "run_requests", "x": Exploit(marker)}))
    sync.zadd(queue_name, {"evil": time.time() * 1000})
    with MockServer(MockConfig()) as mock:
        worker = None
        try:
            worker = start_worker(
                tmp_path / "worker.log",
                redis_url=db.url,
                queue_name=queue_name,
                base_url=mock.base_url,
            )
            wait_until(lambda: sync.zscore(queue_name, "evil") is None, 20, "pickled job dropped")
            # The worker is still serving real work.
            async with BatchClient.from_url(db.url, queue_name=queue_name) as client:
                batch = await client.submit(items(3, cid="k"))
                info = await batch.wait(timeout=30, poll_interval=0.05)
            assert worker.alive()
            out = worker.output()
        finally:
            if worker is not None:
                worker.kill()
    assert not marker.exists()
    assert info.request_counts.completed == 3
    assert "evil" in out  # refused loudly (deserialisation error logged), not run


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_api_key_never_reaches_redis_logs_or_results_password_url_works(
    tmp_path: Path, queue_name: str
) -> None:
    server = RedisServer(tmp_path / "redis", password=REDIS_PASSWORD).start()
    url = server.url(0)
    mock, base_url = start_mockapi(
        tmp_path / "mock.log",
        "--api-key",
        API_KEY,
        "--fail-rate",
        "0.3",
        "--fail-mix",
        "500,nonjson,garbage",
        "--latency",
        "0.05",
    )
    worker = None
    sync = server.client()
    try:
        worker = start_worker(
            tmp_path / "worker.log",
            redis_url=url,
            queue_name=queue_name,
            base_url=base_url,
            api_key=API_KEY,
            log_level="DEBUG",
            max_attempts=2,
            retry_base=0.01,
            retry_cap=0.02,
            ready_client=sync,
        )
        async with BatchClient.from_url(url, queue_name=queue_name) as client:
            batch = await client.submit(
                [
                    *items(30, cid="k"),
                    {"custom_id": "bad-model", "body": {"model": "nope", "input": "x"}},
                ]
            )
            info = await batch.wait(timeout=60, poll_interval=0.05)
            results = b"\n".join([raw async for raw in batch.result_lines()])
        everything = dump_everything(sync)
        log = worker.output()
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "respq.producer.cli",
                "--redis-url",
                url,
                "-v",
                "status",
                batch.id,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        cli_list = subprocess.run(
            [sys.executable, "-m", "respq.producer.cli", "--redis-url", url, "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        if worker is not None:
            worker.kill()
        mock.kill()
        sync.close()
        server.kill()
    assert info.status is BatchStatus.COMPLETED
    assert info.done == 31
    assert info.request_counts.completed > 0  # the key did authenticate upstream
    assert len(everything) > 1000
    for secret in (API_KEY, API_KEY[3:], REDIS_PASSWORD):
        assert secret.encode() not in everything
        assert secret.encode() not in results
        assert secret not in log
    assert cli.returncode in (0, 1), cli.stderr
    assert batch.id in cli.stdout
    assert REDIS_PASSWORD not in cli.stdout + cli.stderr
    assert cli_list.returncode == 0, cli_list.stderr
    assert REDIS_PASSWORD not in cli_list.stdout + cli_list.stderr


async def test_api_key_not_in_caplog_with_debug_logging(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with MockServer(MockConfig(api_key="sk-other", seed=3)) as wrong_key:
        # A wrong key (401, final) and failing paths: errors are where keys leak.
        config = WorkerConfig(
            base_url=wrong_key.base_url,
            api_key=API_KEY,
            queue_name=queue_name,
            log_level="DEBUG",
            account_error_pause=0,  # every request fails on its own, none is left paused
        )
        batch = await fake_client.submit(items(5, cid="k"))
        await run_burst(build_worker(config, redis_pool=fake_redis), timeout=30)
    info = await batch.status()
    assert info.request_counts.failed == 5
    lines = b"".join([raw async for raw in batch.result_lines()])
    assert API_KEY.encode() not in lines
    assert caplog.records
    assert API_KEY not in caplog.text and API_KEY[3:] not in caplog.text
    everything = b""
    for key in await fake_redis.keys("*"):
        everything += key + repr(await fake_redis.dump(key)).encode()
    assert API_KEY.encode() not in everything


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_rediss_url_with_a_tls_redis_server(tmp_path: Path, queue_name: str) -> None:
    try:
        tls = make_tls_files(tmp_path / "tls")
        server = RedisServer(tmp_path / "redis", tls=tls, password=REDIS_PASSWORD).start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # pragma: no cover
        pytest.skip(f"no TLS-capable redis-server/openssl here: {exc}")
    url = server.url(0)
    assert url.startswith("rediss://")
    sync = server.client()
    worker = None
    try:
        with MockServer(MockConfig()) as mock:
            worker = start_worker(
                tmp_path / "worker.log",
                redis_url=url,
                queue_name=queue_name,
                base_url=mock.base_url,
                ready_client=sync,
            )
            async with BatchClient.from_url(url, queue_name=queue_name) as client:
                pool = client.redis.connection_pool
                assert pool.connection_class.__name__ == "SSLConnection"
                batch = await client.submit(items(5, cid="k"))
                info = await batch.wait(timeout=30, poll_interval=0.05)
            log = worker.output()
    finally:
        if worker is not None:
            worker.kill()
        sync.close()
        server.kill()
    assert info.request_counts.completed == 5
    assert REDIS_PASSWORD not in log


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_worker_start_up_logs_hold_no_credentials(tmp_path: Path, queue_name: str) -> None:
    """arq's RedisSettings repr holds the password: neither arq's start-up nor respq's own
    start-up line may print it, nor the upstream URL's userinfo, nor the API key."""
    upstream = f"http://user:{UPSTREAM_PASSWORD}@127.0.0.1:{free_port()}/v1"
    with (
        RedisServer(tmp_path / "redis", password=REDIS_PASSWORD) as server,
        server.client() as sync,
        start_worker(
            tmp_path / "worker.log",
            redis_url=server.url(0),
            queue_name=queue_name,
            base_url=upstream,
            api_key=API_KEY,
            log_level="DEBUG",
            ready_client=sync,
        ) as worker,
    ):
        wait_until(lambda: "respq worker up" in worker.output(), 20, "start-up line")
        out = worker.output()
    up = next(line for line in out.splitlines() if "respq worker up" in line)
    assert "user:***@127.0.0.1" in up and ":***@127.0.0.1" in up
    for secret in (REDIS_PASSWORD, UPSTREAM_PASSWORD, API_KEY, API_KEY[3:]):
        assert secret not in out, f"{secret} in the worker's output:\n{out[-3000:]}"


async def test_arq_connection_retries_log_no_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = redis_settings(f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0")
    assert REDIS_PASSWORD in repr(settings)  # why it must never reach a log line
    # The worker's own policy retries for about a minute; two quick tries show the path.
    settings.retry, settings.conn_retries, settings.conn_retry_delay = None, 1, 0
    with pytest.raises(redis.ConnectionError):
        await create_pool(settings)
    assert "redis connection error" in caplog.text
    assert REDIS_PASSWORD not in caplog.text


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_run_mock_with_a_mock_key_sends_it_and_never_prints_it(
    tmp_path: Path, db: Database
) -> None:
    """``respq run --mock`` under MOCKAPI_API_KEY: the mock's readiness probe and the workers
    get past its auth, and the key is printed nowhere."""
    mock_key = "sk-mock-SECRET-a81d"
    env = subprocess_env(db, unique_queue(), MOCKAPI_API_KEY=mock_key)
    path = write_jsonl(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    done = respq("-v", "run", str(path), "-o", str(out), "--mock", "-w", "1", env=env, timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(out.read_bytes().splitlines()) == 20
    assert mock_key not in done.stdout + done.stderr

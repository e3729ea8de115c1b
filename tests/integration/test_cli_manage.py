"""Every respq command through CliRunner against the real Redis, with an in-process
mock upstream and in-process burst workers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from contract.constants import schedule_keys
from mockapi import MockConfig, MockServer

from helpers.cli import (
    api_lines,
    burst_worker,
    clean_db,
    env_for,
    file_lines,
    invoke,
    sync_redis,
    unique_queue,
    wait_for,
    write_jsonl,
)

pytestmark = pytest.mark.integration

DB = 9


@pytest.fixture
def db() -> Iterator[int]:
    yield from clean_db(DB)


@pytest.fixture
def queue() -> str:
    return unique_queue()


@pytest.fixture
def env(db: int, queue: str) -> dict[str, str]:
    return env_for(db, queue)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(seed=7)) as server:
        yield server


def submit(path: Path, env: dict[str, str], *extra: str) -> str:
    result = invoke(["submit", str(path), *extra], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_submit_status_results_happy_path(
    tmp_path: Path, env: dict[str, str], db: int, queue: str, mock: MockServer
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 30)
    batch_id = submit(path, env, "--metadata", "team=search", "--metadata", "run=1")
    assert batch_id.startswith("batch_")

    status = invoke(["status", batch_id, "--json"], env=env)
    assert status.exit_code == 0
    shape = orjson.loads(status.stdout)
    assert shape["id"] == batch_id
    assert shape["object"] == "batch"
    assert shape["request_counts"] == {"total": 30, "completed": 0, "failed": 0}
    assert shape["metadata"] == {"team": "search", "run": "1"}

    burst_worker(db, queue, mock.base_url)

    watch = invoke(["watch", batch_id, "--interval", "0.05"], env=env)
    assert watch.exit_code == 0, watch.output
    assert "completed: 30/30 done" in watch.stdout

    table = invoke(["status", batch_id], env=env)
    assert table.exit_code == 0
    for text in ("completed", "30/30 (100.0%)", "gpt-5.4-mini", "requests/s"):
        assert text in table.stdout

    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    results = invoke(["results", batch_id, "-o", str(out), "--errors", str(err)], env=env)
    assert results.exit_code == 0
    ok, bad = api_lines(db, queue, batch_id)
    assert file_lines(out) == ok
    assert len(ok) == 30
    assert file_lines(err) == bad == []
    assert [orjson.loads(x)["custom_id"] for x in ok] == [f"req-{i}" for i in range(30)]

    # stdout and --all give the same lines.
    assert file_lines_from(invoke(["results", batch_id], env=env).stdout_bytes) == ok
    assert file_lines_from(invoke(["results", batch_id, "--all"], env=env).stdout_bytes) == ok

    listed = invoke(["list", "--json"], env=env)
    assert [b["id"] for b in orjson.loads(listed.stdout)] == [batch_id]
    assert batch_id in invoke(["list"], env=env).stdout


def file_lines_from(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line]


def test_submit_from_stdin_with_batch_id_and_json(env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", 5).read_bytes()
    result = invoke(["submit", "-", "--batch-id", "mine-1", "--json"], env=env, input=data)
    assert result.exit_code == 0, result.output
    shape = orjson.loads(result.stdout)
    assert shape["id"] == "mine-1"
    assert shape["request_counts"]["total"] == 5
    assert "errors_by_code" in shape


def test_cancel_mid_batch(tmp_path: Path, db: int, queue: str) -> None:
    """A worker is sending (slow upstream) when the batch is cancelled: what it had taken
    finishes and is recorded as a success, everything still queued ends batch_cancelled
    and is never sent."""
    n = 40
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "custom_id": f"req-{i}",
                    "body": {
                        "model": "gpt-5.4-mini",
                        "input": f"q{i}",
                        "metadata": {"custom_id": f"req-{i}"},
                    },
                }
            )
            + b"\n"
            for i in range(n)
        )
    )
    # One request per job, so the worker takes only a few at a time.
    env = env_for(db, queue, RESPQ_CHUNK_SIZE="1")
    with (
        MockServer(MockConfig(latency=1.0, seed=3)) as slow,
        ThreadPoolExecutor(1) as pool,
    ):
        batch_id = submit(path, env)
        worker = pool.submit(burst_worker, db, queue, slow.base_url, max_jobs=4)
        wait_for(lambda: slow.stats()["in_flight"] > 0, 30, "requests in flight")
        result = invoke(["cancel", batch_id], env=env)
        assert result.exit_code == 0, result.output
        assert "cancel" in result.stdout
        worker.result(timeout=60)  # the burst worker drained the rest; its errors surface
        sent = Counter(e["metadata"]["custom_id"] for e in slow.stats()["request_log"])

    status = orjson.loads(invoke(["status", batch_id, "--json"], env=env).stdout)
    assert status["status"] == "cancelled"
    everything = invoke(["results", batch_id, "--all"], env=env)
    lines = {x["custom_id"]: x for x in map(orjson.loads, file_lines_from(everything.stdout_bytes))}
    assert len(lines) == n
    finished = {cid for cid, line in lines.items() if line["error"] is None}
    cancelled = {cid for cid, line in lines.items() if line["error"]}
    print(f"\ncancel mid-batch: {len(finished)} finished, {len(cancelled)} cancelled")
    assert 0 < len(finished) < n, "the cancel did not land mid-batch"
    assert set(sent) == finished and set(sent.values()) == {1}  # in flight: finished
    assert {lines[cid]["error"]["code"] for cid in cancelled} == {"batch_cancelled"}
    assert status["request_counts"] == {
        "total": n,
        "completed": len(finished),
        "failed": len(cancelled),
    }
    assert status["errors_by_code"] == {"batch_cancelled": len(cancelled)}

    # Without --errors the failures are only counted, with a hint on stderr.
    plain = invoke(["results", batch_id], env=env)
    assert file_lines_from(plain.stdout_bytes) == [
        orjson.dumps(lines[f"req-{i}"]) for i in range(n) if f"req-{i}" in finished
    ]
    assert f"{len(cancelled)} request(s) failed" in plain.stderr
    assert "--errors" in plain.stderr

    again = invoke(["cancel", batch_id], env=env)
    assert again.exit_code == 2
    assert "already ended" in again.stderr

    watch = invoke(["watch", batch_id], env=env)
    assert watch.exit_code == 1


def test_retry_only_server_errors(tmp_path: Path, env: dict[str, str], db: int, queue: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 12)
    with MockServer(MockConfig(fail_rate=1.0, fail_mix="500", seed=1)) as failing:
        batch_id = submit(path, env)
        burst_worker(db, queue, failing.base_url, max_attempts=1)
        status = orjson.loads(invoke(["status", batch_id, "--json"], env=env).stdout)
        assert status["request_counts"]["failed"] == 12
        assert status["errors_by_code"] == {"server_error": 12}

        err = tmp_path / "err.jsonl"
        results = invoke(["results", batch_id, "--errors", str(err)], env=env)
        assert results.exit_code == 0
        assert len(file_lines(err)) == 12

        none = invoke(["retry", batch_id, "--code", "rate_limit_exceeded"], env=env)
        assert none.exit_code == 0
        assert none.stdout.strip() == "0 request(s) re-enqueued"

        failing.control(fail_rate=0.0)  # heal the upstream
        again = invoke(["retry", batch_id, "--code", "server_error"], env=env)
        assert again.stdout.strip() == "12 request(s) re-enqueued"
        burst_worker(db, queue, failing.base_url, max_attempts=1)

    watch = invoke(["watch", batch_id], env=env)
    assert watch.exit_code == 0, watch.output
    ok, bad = api_lines(db, queue, batch_id)
    assert len(ok) == 12
    assert bad == []


def test_submit_wait_writes_results(
    tmp_path: Path, env: dict[str, str], db: int, queue: str, mock: MockServer
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 10)
    out, err = tmp_path / "o.jsonl", tmp_path / "e.jsonl"
    redis = sync_redis(db)

    def drain_once_enqueued() -> None:
        schedule, _ = schedule_keys(queue)
        wait_for(lambda: bool(redis.zcard(schedule)), 30, "submit to enqueue")
        burst_worker(db, queue, mock.base_url)

    # A worker in a thread drains the queue once submit has enqueued it; result() raises
    # here whatever failed in the thread.
    with ThreadPoolExecutor(1) as pool:
        worker = pool.submit(drain_once_enqueued)
        result = invoke(
            ["submit", str(path), "--wait", "-o", str(out), "--errors", str(err)], env=env
        )
        worker.result(timeout=60)
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.strip()
    ok, bad = api_lines(db, queue, batch_id)
    assert file_lines(out) == ok
    assert len(ok) == 10
    assert file_lines(err) == bad == []


def test_workers_lists_only_recent_heartbeats(env: dict[str, str], db: int) -> None:
    redis = sync_redis(db)
    now = time.time()
    redis.zadd("respq:workers", {"w-live": now - 5, "w-stale": now - 300})
    redis.hset(
        "respq:worker:w-live",
        mapping={
            "id": "w-live",
            "started_at": int(now - 100),
            "seen_at": int(now - 5),
            "in_flight": 7,
            "jobs": 2,
        },
    )
    redis.hset("respq:worker:w-stale", mapping={"id": "w-stale", "seen_at": int(now - 300)})

    result = invoke(["workers", "--json"], env=env)
    assert result.exit_code == 0
    found = orjson.loads(result.stdout)
    assert [w["id"] for w in found] == ["w-live"]
    assert found[0]["in_flight"] == 7
    assert found[0]["jobs"] == 2

    table = invoke(["workers"], env=env).stdout
    assert "w-live" in table
    assert "w-stale" not in table


def test_unknown_batch_exits_2(env: dict[str, str]) -> None:
    for args in (
        ["status", "batch_nope"],
        ["watch", "batch_nope"],
        ["results", "batch_nope"],
        ["cancel", "batch_nope"],
        ["retry", "batch_nope"],
    ):
        result = invoke(args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "not found" in result.stderr


def test_progress_bar_on_a_terminal(
    tmp_path: Path, env: dict[str, str], db: int, queue: str, mock: MockServer
) -> None:
    import asyncio
    import io

    from rich.console import Console

    from producer import BatchClient
    from producer.cli.progress import follow

    batch_id = submit(write_jsonl(tmp_path / "in.jsonl", 8), env)
    burst_worker(db, queue, mock.base_url)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160)

    async def go() -> str:
        async with BatchClient.from_url(env["RESPQ_REDIS_URL"], queue_name=queue) as client:
            info = await follow(await client.get(batch_id), console, poll_interval=0.05)
            return str(info.status)

    assert asyncio.run(go()) == "completed"
    text = screen.getvalue()
    assert "8/8" in text
    assert "failed 0" in text
    assert "tokens" in text

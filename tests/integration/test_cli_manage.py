"""Managing batches and workers: ``respq cancel`` mid-batch, ``respq retry`` of some error
codes, ``respq workers``."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from respq.mockapi import MockConfig, MockServer

from helpers.cli import api_lines, env_for, file_lines, invoke, output_lines, submit
from helpers.databases import Database
from helpers.factories import tagged_items, write_jsonl
from helpers.polling import wait_until
from helpers.workers import burst_worker

pytestmark = pytest.mark.integration


def test_cancel_mid_batch(tmp_path: Path, db: Database, queue_name: str) -> None:
    """A worker is sending (slow upstream) when the batch is cancelled: what it had taken
    finishes and is recorded as a success, everything still queued ends batch_cancelled
    and is never sent."""
    n = 40
    path = tmp_path / "in.jsonl"
    items = tagged_items(n, "req-", model="gpt-5.4-mini")
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    # One request per job, so the worker takes only a few at a time.
    env = env_for(db, queue_name, RESPQ_CHUNK_SIZE="1")
    with (
        MockServer(MockConfig(latency=1.0, seed=3)) as slow,
        ThreadPoolExecutor(1) as pool,
    ):
        batch_id = submit(path, env)
        worker = pool.submit(burst_worker, db, queue_name, slow.base_url, worker_in_flight=4)
        wait_until(lambda: slow.stats()["in_flight"] > 0, 30, "requests in flight")
        result = invoke(["cancel", batch_id], env=env)
        assert result.exit_code == 0, result.output
        assert "cancel" in result.stdout
        worker.result(timeout=60)  # the burst worker drained the rest; its errors surface
        sent = Counter(e["metadata"]["custom_id"] for e in slow.stats()["request_log"])

    status = orjson.loads(invoke(["status", batch_id, "--json"], env=env).stdout)
    assert status["status"] == "cancelled"
    everything = invoke(["results", batch_id, "--all"], env=env)
    lines = {x["custom_id"]: x for x in map(orjson.loads, output_lines(everything.stdout_bytes))}
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
    assert output_lines(plain.stdout_bytes) == [
        orjson.dumps(lines[f"req-{i}"]) for i in range(n) if f"req-{i}" in finished
    ]
    assert f"{len(cancelled)} request(s) failed" in plain.stderr
    assert "--errors" in plain.stderr

    again = invoke(["cancel", batch_id], env=env)
    assert again.exit_code == 2
    assert "already ended" in again.stderr

    watch = invoke(["watch", batch_id], env=env)
    assert watch.exit_code == 1


def test_retry_only_server_errors(
    tmp_path: Path, env: dict[str, str], db: Database, queue_name: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 12)
    with MockServer(MockConfig(fail_rate=1.0, fail_mix="500", seed=1)) as failing:
        batch_id = submit(path, env)
        burst_worker(db, queue_name, failing.base_url, max_attempts=1)
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
        burst_worker(db, queue_name, failing.base_url, max_attempts=1)

    watch = invoke(["watch", batch_id], env=env)
    assert watch.exit_code == 0, watch.output
    ok, bad = api_lines(db, queue_name, batch_id)
    assert len(ok) == 12
    assert bad == []


def test_workers_lists_only_recent_heartbeats(env: dict[str, str], db: Database) -> None:
    redis = db.redis
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

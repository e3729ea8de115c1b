"""``respq doctor``: the reconciler's audit for one batch, on the real Redis —
stranded requests are shown and, with --repair, queued again; an ended batch's counters
are checked against its results and repaired."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, ARQ_JOB_PREFIX, BatchKeys
from respq.mockapi import MockConfig, MockServer

from helpers.cli import env_for, invoke, submit
from helpers.databases import Database
from helpers.factories import unique_queue, write_jsonl
from helpers.workers import burst_worker

pytestmark = [pytest.mark.integration]


def test_doctor_finds_and_requeues_stranded_requests_then_checks_counters(
    tmp_path: Path, db: Database, queue_name: str, env: dict[str, str]
) -> None:
    batch_id = submit(write_jsonl(tmp_path / "in.jsonl", 6), env)
    redis, keys = db.redis, BatchKeys(batch_id)
    # Its job is lost after claiming the requests (a cut AOF tail, or arq dropped it):
    # no job record anywhere, the claims left behind.
    redis.delete(queue_name, f"respq:{{{batch_id}}}:jobs")  # queued, or waiting for its turn
    for key in redis.scan_iter(f"{ARQ_JOB_PREFIX}{batch_id}:*"):
        redis.delete(key)
    redis.hset(keys.inflight, mapping={f"req-{i}": f"{batch_id}:gone" for i in range(6)})

    found = invoke(["doctor", batch_id, "--json"], env=env)
    assert found.exit_code == 1
    report = orjson.loads(found.stdout)
    assert report["requests"]["stranded"] == 6 and report["requests"]["requeued"] == 0
    assert redis.zcard(queue_name) == 0  # looking changes nothing

    repaired = invoke(["doctor", batch_id, "--repair"], env=env)
    assert repaired.exit_code == 0, repaired.output
    assert "re-queued 6 request(s)" in repaired.stdout
    again = orjson.loads(invoke(["doctor", batch_id, "--json"], env=env).stdout)
    assert (again["requests"]["stranded"], again["requests"]["queued"]) == (0, 6)

    with MockServer(MockConfig()) as mock:
        burst_worker(db, queue_name, mock.base_url)
    done = invoke(["doctor", batch_id], env=env)
    assert done.exit_code == 0, done.output
    assert "equal to the sums over the stored results" in done.stdout

    redis.hset(keys.meta, mapping={"completed": 5, "usage:output_tokens": 1})
    drift = invoke(["doctor", batch_id], env=env)
    assert drift.exit_code == 1
    assert "counter completed: stored 5, results say 6" in drift.stdout
    fixed = invoke(["doctor", batch_id, "--repair"], env=env)
    assert fixed.exit_code == 0 and "repaired 2 counter(s)" in fixed.stdout
    assert int(redis.hget(keys.meta, "completed") or 0) == 6
    assert invoke(["doctor", batch_id], env=env).exit_code == 0


def test_doctor_unknown_batch_exits_2(db: Database) -> None:
    result = invoke(["doctor", "batch_nope"], env=env_for(db, unique_queue()))
    assert result.exit_code == 2


def test_doctor_shows_requests_in_flight_past_their_deadline_as_overdue(
    tmp_path: Path, db: Database, queue_name: str, env: dict[str, str]
) -> None:
    batch_id = submit(write_jsonl(tmp_path / "in.jsonl", 4), env)
    redis, keys = db.redis, BatchKeys(batch_id)
    # Two live jobs (their worker renews the lease): one within the time its worker wrote
    # into the lease, one past it (its requests should have ended by now: a stuck worker).
    now_ms = int(time.time() * 1000)
    for job, cids, overdue_at in (
        ("healthy", ["req-0", "req-1"], now_ms + 60_000),
        ("stuck", ["req-2", "req-3"], now_ms - 1_000),
    ):
        redis.set(f"{ARQ_IN_PROGRESS_PREFIX}{batch_id}:{job}", f"tok:{overdue_at}", px=60_000)
        redis.hset(keys.inflight, mapping={cid: f"{batch_id}:{job}" for cid in cids})

    found = invoke(["doctor", batch_id, "--json"], env=env)
    assert found.exit_code == 1, found.output
    report = orjson.loads(found.stdout)["requests"]
    assert (report["leased"], report["overdue"], report["stranded"]) == (2, 2, 0)
    shown = invoke(["doctor", batch_id, "--repair"], env=env)
    assert shown.exit_code == 1  # nothing to repair: re-queueing would send them twice
    assert "overdue: 2 request(s) held by a worker that still renews its lease" in shown.stdout
    assert redis.hget(keys.inflight, "req-2") == f"{batch_id}:stuck".encode()

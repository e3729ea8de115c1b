"""Worker processes dying: SIGKILL mid-batch (nothing lost, nothing paid twice except what
was in flight on the dead worker, retaken within one lease) and SIGTERM (graceful drain,
the rest stays queued, no try burnt)."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from respq import BatchClient, BatchStatus
from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, ARQ_JOB_PREFIX
from respq.mockapi import MockConfig, MockServer

from helpers.databases import Database
from helpers.factories import tagged_items
from helpers.polling import wait_until
from helpers.processes import mock_stats, start_mockapi, start_worker
from helpers.workers import dispatch_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
DRAIN_API_KEY = "sk-drain-SECRET-5e1c"
# Slack on top of a configured time (lease, shutdown grace) for a worker's start-up, arq's
# poll and a loaded machine. A dead worker's job without the lease waits job_timeout + 10 s
# (an hour here), far beyond lease + SLACK_S.
SLACK_S = 20.0


def uneven(i: int) -> str:
    """Inputs of 1 to 13 words: requests of different sizes."""
    return "word " * (i % 13 + 1)


def sends(*logs: list[dict[str, Any]]) -> Counter[str]:
    """Upstream sends per custom_id over mockapi request logs."""
    count: Counter[str] = Counter()
    for log in logs:
        for entry in log:
            meta = entry.get("metadata") or {}
            if "custom_id" in meta:
                count[meta["custom_id"]] += 1
    return count


def usage_sum(lines: list[dict[str, Any]]) -> dict[str, int]:
    total = dict.fromkeys(USAGE_KEYS, 0)
    for line in lines:
        if line["response"] and line["error"] is None:
            usage = line["response"]["body"]["usage"]
            for key in USAGE_KEYS:
                total[key] += int(usage[key])
    return total


@pytest.mark.timeout(150)
async def test_sigkill_worker_mid_batch_loses_nothing_and_retakes_within_lease(
    tmp_path: Path, queue_name: str, db: Database
) -> None:
    lease = 6
    n = 1000
    # One mock per worker: the killed worker's own request_log is exactly what it sent.
    with (
        MockServer(MockConfig(latency=0.2, seed=1)) as mock_killed,
        MockServer(MockConfig(latency=0.2, seed=2)) as mock_alive,
    ):
        common: dict[str, Any] = {
            "redis_url": db.url,
            "queue_name": queue_name,
            "lease_seconds": lease,
            "job_timeout": 3600,
            "worker_in_flight": 32,
            "api_key": "sk-test",
        }
        victim = start_worker(tmp_path / "victim.log", base_url=mock_killed.base_url, **common)
        survivor = None
        try:
            survivor = start_worker(
                tmp_path / "survivor.log", base_url=mock_alive.base_url, **common
            )
            async with BatchClient.from_url(db.url, queue_name=queue_name, chunk_size=8) as client:
                batch = await client.submit(tagged_items(n, "c", uneven))
                wait_until(
                    lambda: (
                        int(db.redis.hget(batch.keys.meta, "completed") or 0) >= 250
                        and len(mock_killed.stats()["request_log"]) >= 100
                        # the kill must land while the victim has requests out
                        and mock_killed.stats()["in_flight"] >= 4
                    ),
                    30,
                    "first results",
                    interval=0.01,
                )
                victim.signal(signal.SIGKILL)
                victim.wait(10)
                killed_at = time.monotonic()
                # The dead worker writes nothing more: these had a result at kill time.
                had_result = {k.decode() for k in db.redis.hkeys(batch.keys.res)}
                sent_by_victim = sends(mock_killed.stats()["request_log"])
                victim_in_flight = {c for c in sent_by_victim if c not in had_result}

                def in_flight_recorded() -> bool:
                    if not victim_in_flight:
                        return True
                    return None not in db.redis.hmget(batch.keys.res, sorted(victim_in_flight))

                wait_until(
                    in_flight_recorded,
                    lease + SLACK_S,
                    "victim's in-flight requests retaken within one lease",
                    0.05,
                )
                retaken_s = time.monotonic() - killed_at
                info = await batch.wait(timeout=60, poll_interval=0.05)
                completed_s = time.monotonic() - killed_at
                lines = [orjson.loads(raw) async for raw in batch.result_lines()]
            assert survivor.alive()
        finally:
            victim.kill()
            if survivor is not None:
                survivor.kill()
        all_sends = sends(mock_killed.stats()["request_log"], mock_alive.stats()["request_log"])

    print(
        f"\nSIGKILL: lease {lease}s, job_timeout 3600s: kill -> in-flight retaken "
        f"{retaken_s:.1f}s, kill -> batch completed {completed_s:.1f}s; "
        f"victim had {len(victim_in_flight)} request(s) in flight, "
        f"{sum(1 for c in all_sends.values() if c > 1)} sent twice"
    )
    assert info.status is BatchStatus.COMPLETED
    assert (info.request_counts.completed, info.request_counts.failed) == (n, 0)
    assert len(lines) == n
    assert sorted(line["custom_id"] for line in lines) == sorted(f"c{i}" for i in range(n))
    total = usage_sum(lines)
    assert (info.usage.input_tokens, info.usage.output_tokens, info.usage.total_tokens) == (
        total["input_tokens"],
        total["output_tokens"],
        total["total_tokens"],
    )
    assert set(all_sends) == {f"c{i}" for i in range(n)}
    duplicates = {cid: count for cid, count in all_sends.items() if count > 1}
    assert all(count == 2 for count in duplicates.values()), duplicates
    assert victim_in_flight, "nothing was in flight on the killed worker"
    # Exactly what was in flight on the dead worker was sent again, nothing else.
    assert set(duplicates) == victim_in_flight, "a request with a result was sent again"
    # Retaken once the lease lapsed (it had at least 2/3 of a lease left at the kill),
    # well before job_timeout + 10 s.
    assert lease / 2 <= retaken_s <= lease + SLACK_S


@pytest.mark.timeout(120)
async def test_picked_but_unclaimed_job_of_a_killed_worker_is_retaken_within_lease(
    tmp_path: Path, queue_name: str, db: Database
) -> None:
    """A worker SIGKILLed right after arq set ``arq:in-progress:<id>`` for job_timeout+10 s
    but before the job's claim cut it to the lease: the job must not wait an hour."""
    lease = 6
    with MockServer(MockConfig()) as mock:
        settings: dict[str, Any] = {
            "redis_url": db.url,
            "queue_name": queue_name,
            "base_url": mock.base_url,
            "lease_seconds": lease,
            "job_timeout": 3600,
        }
        worker = None
        try:
            async with BatchClient.from_url(db.url, queue_name=queue_name, chunk_size=4) as client:
                batch = await client.submit(tagged_items(8, "c", uneven))
                job_ids = await dispatch_all(client.redis, queue_name)  # as a worker would
                # What arq's start_jobs does just before the (dead) worker would have run it.
                db.redis.psetex(ARQ_IN_PROGRESS_PREFIX + job_ids[0], 3610 * 1000, b"1")
                started = time.monotonic()
                worker = start_worker(tmp_path / "worker.log", **settings)
                info = await batch.wait(timeout=lease + SLACK_S, poll_interval=0.05)
                took = time.monotonic() - started
        finally:
            if worker is not None:
                worker.kill()
    print(f"\npicked-but-unclaimed job retaken after {took:.1f}s (lease {lease}s)")
    assert info.request_counts.completed == 8
    # The key arq set for an hour was cut to the lease by the worker's sweep.
    assert took <= lease + SLACK_S


@pytest.mark.timeout(120)
async def test_sigterm_drains_in_flight_and_leaves_the_rest_queued(
    tmp_path: Path, queue_name: str, db: Database
) -> None:
    n, grace = 60, 6
    mock, base_url = start_mockapi(tmp_path / "mock.log", "--latency", "1.5")
    common: dict[str, Any] = {
        "redis_url": db.url,
        "queue_name": queue_name,
        "base_url": base_url,
        "worker_in_flight": 8,
        "shutdown_grace": grace,
        "max_attempts": 1,  # a burnt try would show as a failed request
        "api_key": DRAIN_API_KEY,  # the mock takes any key; the workers must not print it
        "log_level": "DEBUG",
    }
    first = fresh = None
    try:
        first = start_worker(tmp_path / "first.log", **common)
        async with BatchClient.from_url(db.url, queue_name=queue_name, chunk_size=4) as client:
            batch = await client.submit(tagged_items(n, "c", uneven))
            wait_until(lambda: mock_stats(base_url)["in_flight"] >= 8, 20, "8 requests in flight")
            sent_before = set(sends(mock_stats(base_url)["request_log"]))
            first.signal(signal.SIGTERM)
            termed = time.monotonic()
            code = first.wait(grace + SLACK_S)
            exit_s = time.monotonic() - termed
            out = first.output()
            after_exit = set(sends(mock_stats(base_url)["request_log"]))
            done = {k.decode() for k in db.redis.hkeys(batch.keys.res)}
            info = await batch.status()
            queued_jobs = [j.decode() for j in db.redis.zrange(queue_name, 0, -1)]
            missing_records = [j for j in queued_jobs if not db.redis.exists(ARQ_JOB_PREFIX + j)]
            in_flight_left = db.redis.hlen(batch.keys.inflight)

            fresh = start_worker(tmp_path / "fresh.log", **common)
            final = await batch.wait(timeout=60, poll_interval=0.05)
            log = mock_stats(base_url)["request_log"]
            fresh_out = fresh.output()
    finally:
        for proc in (first, fresh, mock):
            if proc is not None:
                proc.kill()
    print(f"\nSIGTERM: worker exited {code} after {exit_s:.1f}s; {len(done)} finished, rest queued")
    assert code == 0, out[-3000:]
    # In-flight requests take 1.5 s, well inside the grace; the bound only says the drain
    # ends (the slack covers a loaded machine), the assertions below say what it did.
    assert exit_s < grace + SLACK_S
    # In-flight requests were finished (recorded), not cut off; nothing new was started.
    assert sent_before <= done
    assert after_exit == done
    assert info.request_counts.failed == 0
    assert 8 <= len(done) < n
    assert in_flight_left == 0
    assert queued_jobs and not missing_records
    assert final.status is BatchStatus.COMPLETED
    assert (final.request_counts.completed, final.request_counts.failed) == (n, 0)
    assert max(sends(log).values()) == 1  # nothing sent twice
    for printed in (out, fresh_out):
        assert DRAIN_API_KEY not in printed and DRAIN_API_KEY[3:] not in printed

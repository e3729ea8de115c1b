"""The respq CLI as real processes: respq itself, python -m worker, mockapi and Redis."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from mockapi import MockConfig, MockServer

from helpers.cli import (
    RESPQ,
    ROOT,
    api_lines,
    clean_db,
    file_lines,
    subprocess_env,
    sync_redis,
    unique_queue,
    wait_for,
    worker_processes,
    write_jsonl,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DB = 10


@pytest.fixture
def db() -> Iterator[int]:
    yield from clean_db(DB)


def respq(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RESPQ), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_submit_watch_results_as_processes(tmp_path: Path, db: int) -> None:
    queue = unique_queue()
    env = subprocess_env(db, queue)
    path = write_jsonl(tmp_path / "in.jsonl", 60)
    with (
        MockServer(MockConfig(latency=0.01)) as mock,
        worker_processes(2, db, queue, mock.base_url),
    ):
        submitted = respq("submit", str(path), env=env)
        assert submitted.returncode == 0, submitted.stderr
        batch_id = submitted.stdout.strip()

        watched = respq("watch", batch_id, env=env)
        assert watched.returncode == 0, watched.stderr
        assert f"{batch_id} completed: 60/60 done" in watched.stdout

        def two_workers() -> bool:
            listed = respq("workers", "--json", env=env)
            return len(orjson.loads(listed.stdout)) == 2

        wait_for(two_workers, 30, "two worker heartbeats")

    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    results = respq("results", batch_id, "-o", str(out), "--errors", str(err), env=env)
    assert results.returncode == 0, results.stderr
    ok, bad = api_lines(db, queue, batch_id)
    assert file_lines(out) == ok
    assert len(ok) == 60
    assert file_lines(err) == bad == []

    status = orjson.loads(respq("status", batch_id, "--json", env=env).stdout)
    assert status["status"] == "completed"
    assert status["usage"]["total_tokens"] > 0

    # python -m producer.cli is the same program.
    module = subprocess.run(
        [sys.executable, "-m", "producer.cli", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert module.returncode == 0
    assert module.stdout.startswith("respq ")


def test_run_mock_end_to_end(tmp_path: Path, db: int) -> None:
    queue = unique_queue()
    env = subprocess_env(db, queue)
    path = write_jsonl(tmp_path / "in.jsonl", 200)
    out = tmp_path / "res" / "out.jsonl"
    done = respq(
        "run",
        str(path),
        "-o",
        str(out),
        "--mock",
        "--workers",
        "2",
        "--batch-id",
        "run-e2e",
        env=env,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert "using Redis at redis://127.0.0.1:6379/10" in done.stderr
    ok, _bad = api_lines(db, queue, "run-e2e")
    assert file_lines(out) == ok
    assert len(ok) == 200
    assert (tmp_path / "res" / "out.errors.jsonl").read_bytes() == b""
    assert sync_redis(db).zcard(queue) == 0


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_run_starts_a_private_redis(tmp_path: Path) -> None:
    env = subprocess_env(0, unique_queue(), RESPQ_RUN_PRIVATE_REDIS="1")
    del env["RESPQ_REDIS_URL"]  # neither --redis-url nor RESPQ_REDIS_URL: run chooses
    path = write_jsonl(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    done = respq("run", str(path), "-o", str(out), "--mock", "-w", "1", env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    match = re.search(r"started a private redis-server on port (\d+)", done.stderr)
    assert match, done.stderr
    assert len(file_lines(out)) == 20
    assert _port_closed(int(match.group(1))), "the private redis-server outlived the run"


def test_run_ctrl_c_writes_partial_results(tmp_path: Path, db: int) -> None:
    queue = unique_queue()
    env = subprocess_env(db, queue, MOCKAPI_LATENCY="0.5", RESPQ_MAX_JOBS="4", RESPQ_CHUNK_SIZE="1")
    path = write_jsonl(tmp_path / "in.jsonl", 100)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [str(RESPQ), "run", str(path), "-o", str(out), "--mock", "-w", "1", "--batch-id", "ctrlc"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        redis = sync_redis(db)
        wait_for(
            lambda: int(redis.hget("respq:{ctrlc}:meta", "completed") or 0) >= 1,
            60,
            "the first result",
        )
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    written = file_lines(out)
    assert 1 <= len(written) < 100
    assert f"{100 - len(written)} of 100 requests were not done" in stderr
    assert "respq watch ctrlc" in stderr
    assert "respq results ctrlc" in stderr

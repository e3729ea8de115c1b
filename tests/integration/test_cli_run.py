"""``respq run``: submit, workers and results in one command; refused without a key, a
redis-server or valid input; end to end with --mock, with a private Redis, and Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest

from helpers.cli import api_lines, file_lines, invoke, respq
from helpers.databases import Database
from helpers.factories import request_line, unique_queue, write_jsonl
from helpers.paths import RESPQ, ROOT
from helpers.polling import wait_for_results
from helpers.ports import port_closed
from helpers.processes import subprocess_env


def test_run_without_api_key_or_mock_exits_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    result = invoke(
        ["run", str(path), "-o", str(tmp_path / "out.jsonl")], env={"RESPQ_API_KEY": None}
    )
    assert result.exit_code == 2
    assert "RESPQ_API_KEY" in result.stderr
    assert "--mock" in result.stderr


def test_run_without_redis_server_binary_exits_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    result = invoke(
        ["run", str(path), "-o", str(tmp_path / "out.jsonl"), "--mock"],
        env={
            "RESPQ_REDIS_URL": None,
            "RESPQ_RUN_PRIVATE_REDIS": "1",
            "PATH": str(tmp_path / "empty-bin"),
        },
    )
    assert result.exit_code == 2, result.output
    assert "redis-server was not found" in result.stderr
    assert "apt-get install redis-server" in result.stderr
    assert "brew install redis" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_run_with_invalid_input_starts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(request_line(0) + b"\n{oops\n")
    result = invoke(
        ["run", str(path), "-o", str(tmp_path / "out.jsonl"), "--mock"],
        env={"RESPQ_REDIS_URL": "redis://127.0.0.1:1/0"},  # never reached: input is checked first
    )
    assert result.exit_code == 2
    assert "line 2" in result.stderr
    assert "started" not in result.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_run_mock_end_to_end(tmp_path: Path, db: Database) -> None:
    queue_name = unique_queue()
    env = subprocess_env(db, queue_name)
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
    assert f"using Redis at {db.url}" in done.stderr
    ok, _bad = api_lines(db, queue_name, "run-e2e")
    assert file_lines(out) == ok
    assert len(ok) == 200
    assert (tmp_path / "res" / "out.errors.jsonl").read_bytes() == b""
    assert db.redis.zcard(queue_name) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_run_starts_a_private_redis(tmp_path: Path) -> None:
    # neither --redis-url nor RESPQ_REDIS_URL: run chooses
    env = subprocess_env(None, unique_queue(), RESPQ_RUN_PRIVATE_REDIS="1")
    path = write_jsonl(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    done = respq("run", str(path), "-o", str(out), "--mock", "-w", "1", env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    match = re.search(r"started a private redis-server on port (\d+)", done.stderr)
    assert match, done.stderr
    assert len(file_lines(out)) == 20
    assert port_closed(int(match.group(1))), "the private redis-server outlived the run"


@pytest.mark.integration
@pytest.mark.slow
def test_run_ctrl_c_writes_partial_results(tmp_path: Path, db: Database) -> None:
    queue_name = unique_queue()
    env = subprocess_env(
        db, queue_name, MOCKAPI_LATENCY="0.5", RESPQ_WORKER_IN_FLIGHT="4", RESPQ_CHUNK_SIZE="1"
    )
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
        wait_for_results(db.redis, "respq:{ctrlc}:meta", 1, 60)
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

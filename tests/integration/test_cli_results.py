"""``respq results`` after a batch ran: the lines equal the Python API's, successes and errors
in separate files, in input order; in-process and with respq, the workers and mockapi as
real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from respq.mockapi import MockConfig, MockServer

from helpers.cli import api_lines, file_lines, invoke, output_lines, respq, submit
from helpers.databases import Database
from helpers.factories import unique_queue, write_jsonl
from helpers.paths import ROOT
from helpers.polling import wait_until
from helpers.processes import subprocess_env, worker_processes
from helpers.workers import burst_worker

pytestmark = pytest.mark.integration


def test_submit_status_results_happy_path(
    tmp_path: Path, env: dict[str, str], db: Database, queue_name: str, mock: MockServer
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

    burst_worker(db, queue_name, mock.base_url)

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
    ok, bad = api_lines(db, queue_name, batch_id)
    assert file_lines(out) == ok
    assert len(ok) == 30
    assert file_lines(err) == bad == []
    assert [orjson.loads(x)["custom_id"] for x in ok] == [f"req-{i}" for i in range(30)]

    # stdout and --all give the same lines.
    assert output_lines(invoke(["results", batch_id], env=env).stdout_bytes) == ok
    assert output_lines(invoke(["results", batch_id, "--all"], env=env).stdout_bytes) == ok

    listed = invoke(["list", "--json"], env=env)
    assert [b["id"] for b in orjson.loads(listed.stdout)] == [batch_id]
    assert batch_id in invoke(["list"], env=env).stdout


@pytest.mark.slow
def test_submit_watch_results_as_processes(tmp_path: Path, db: Database) -> None:
    queue_name = unique_queue()
    env = subprocess_env(db, queue_name)
    path = write_jsonl(tmp_path / "in.jsonl", 60)
    with (
        MockServer(MockConfig(latency=0.01)) as mock,
        worker_processes(2, db, queue_name, mock.base_url),
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

        wait_until(two_workers, 30, "two worker heartbeats")

    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    results = respq("results", batch_id, "-o", str(out), "--errors", str(err), env=env)
    assert results.returncode == 0, results.stderr
    ok, bad = api_lines(db, queue_name, batch_id)
    assert file_lines(out) == ok
    assert len(ok) == 60
    assert file_lines(err) == bad == []

    status = orjson.loads(respq("status", batch_id, "--json", env=env).stdout)
    assert status["status"] == "completed"
    assert status["usage"]["total_tokens"] > 0

    # python -m respq.producer.cli is the same program.
    module = subprocess.run(
        [sys.executable, "-m", "respq.producer.cli", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert module.returncode == 0
    assert module.stdout.startswith("respq ")

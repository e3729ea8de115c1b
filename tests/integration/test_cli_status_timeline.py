"""``respq status BATCH --timeline``: the batch's timeline as terminal sparklines, and as
JSON with ``--json``, after a worker ran it against the mock with injected failures."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from respq.mockapi import MockConfig, MockServer
from respq.producer.cli.sparklines import BARS, sparkline

from helpers.cli import env_for, invoke, submit
from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.workers import burst_worker

pytestmark = pytest.mark.integration


def test_status_timeline_shows_sparklines_that_add_up_to_the_status(
    tmp_path: Path, db: Database, queue_name: str
) -> None:
    env = env_for(db, queue_name, RESPQ_CHUNK_SIZE="4")
    path = write_jsonl(tmp_path / "in.jsonl", 60)
    config = MockConfig(latency=0.05, fail_rate=0.2, fail_mix="nonjson", seed=5)
    with MockServer(config) as mock:
        batch_id = submit(path, env)
        burst_worker(db, queue_name, mock.base_url, worker_in_flight=8)

    shown = invoke(["status", batch_id, "--timeline"], env=env)
    assert shown.exit_code == 0, shown.output
    for series in ("requests/s", "failed/s", "invalid_response/s", "input tok/min", "latency p95"):
        assert series in shown.stdout
    assert any(bar in shown.stdout for bar in BARS[1:])

    data = orjson.loads(invoke(["status", batch_id, "--json", "--timeline"], env=env).stdout)
    totals, counts = data["timeline"]["totals"], data["request_counts"]
    assert (totals["succeeded"], totals["failed"]) == (counts["completed"], counts["failed"])
    assert counts["failed"] > 0 and totals["errors"] == data["errors_by_code"]
    assert totals["input_tokens"] == data["usage"]["input_tokens"]
    assert totals["latency_p50"] is not None

    waiting = submit(write_jsonl(tmp_path / "later.jsonl", 3), env)
    nothing = invoke(["status", waiting, "--timeline"], env=env)
    assert "no results recorded yet" in nothing.stdout
    assert "timeline" not in invoke(["status", waiting, "--json"], env=env).stdout


def test_a_sparkline_scales_to_its_peak_and_leaves_gaps_for_no_value() -> None:
    assert sparkline([0, 5, 10, None, 2.5]) == "▁▅█ ▃"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""

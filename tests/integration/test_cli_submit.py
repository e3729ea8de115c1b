"""``respq submit``: input files checked before anything is stored (exit 2 naming line and
field, nothing enqueued), stdin, --wait, --check-models, and memory that does not grow
with the file."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from respq.mockapi import MockConfig, MockServer

from helpers.cli import api_lines, env_for, file_lines, invoke, submit_wait
from helpers.databases import Database
from helpers.factories import BAD_LINES, request_line, unique_queue, write_jsonl

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
MOCK_KEY = "mock-secret-key"
LIMIT = 64 * 1024


def test_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = invoke(["--redis-url", NOWHERE, "submit", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_invalid_lines_exit_2_and_touch_nothing(tmp_path: Path, db: Database) -> None:
    path = tmp_path / "bad.jsonl"
    # Line numbers count blank lines: the bad JSON is line 3.
    path.write_bytes(request_line(0) + b"\n\n" + b"\n".join(BAD_LINES) + b"\n")
    result = invoke(["submit", str(path)], env=env_for(db, unique_queue()))
    assert result.exit_code == 2
    err = result.stderr
    assert "5 invalid line(s)" in err
    assert "line 3:" in err
    assert "not valid JSON" in err
    assert "line 4 (custom_id 'a'): field 'body.model'" in err
    assert "line 5 (custom_id 'hot'): field 'body.temperature'" in err
    assert "line 7 (custom_id 'dup'): field 'custom_id'" in err
    assert "duplicate" in err
    assert "line 8 (custom_id 'wrong-url'): field 'url'" in err
    assert result.stdout == ""
    assert db.redis.dbsize() == 0


@pytest.mark.integration
def test_many_invalid_lines_show_the_first_20(tmp_path: Path, db: Database) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"[1]\n" * 25)
    result = invoke(["submit", str(path)], env=env_for(db, unique_queue()))
    assert result.exit_code == 2
    assert result.stderr.count("expected a JSON object") == 20
    assert "… and 5 more" in result.stderr
    assert db.redis.dbsize() == 0


def test_empty_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    result = invoke(["--redis-url", NOWHERE, "submit", str(path)])
    assert result.exit_code == 2
    assert "no requests" in result.stderr


@pytest.mark.integration
def test_cli_submit_of_a_file_without_newlines_exits_2(tmp_path: Path, db: Database) -> None:
    path = tmp_path / "no-newline.jsonl"
    path.write_bytes(b'{"model": "m", "input": "' + b"y" * (4 << 20) + b'"}')
    env = env_for(db, unique_queue(), RESPQ_MAX_REQUEST_BYTES=str(LIMIT))
    result = invoke(["submit", str(path)], env=env)
    assert result.exit_code == 2, result.output
    assert f"1 invalid line(s) in {path}" in result.stderr
    assert f"line 1: line is {(4 << 20) + 27} bytes, over the limit of {LIMIT}" in result.stderr
    assert db.redis.dbsize() == 0


@pytest.mark.integration
def test_submit_from_stdin_with_batch_id_and_json(env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", 5).read_bytes()
    result = invoke(["submit", "-", "--batch-id", "mine-1", "--json"], env=env, input=data)
    assert result.exit_code == 0, result.output
    shape = orjson.loads(result.stdout)
    assert shape["id"] == "mine-1"
    assert shape["request_counts"]["total"] == 5
    assert "errors_by_code" in shape


@pytest.mark.integration
def test_submit_wait_writes_results(
    tmp_path: Path, env: dict[str, str], db: Database, queue_name: str, mock: MockServer
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 10)
    out, err = tmp_path / "o.jsonl", tmp_path / "e.jsonl"
    result = submit_wait(path, out, err, db, queue_name, mock.base_url)
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.strip()
    ok, bad = api_lines(db, queue_name, batch_id)
    assert file_lines(out) == ok
    assert len(ok) == 10
    assert file_lines(err) == bad == []


@pytest.fixture(scope="module")
def keyed_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(seed=3, api_key=MOCK_KEY)) as server:
        yield server


@pytest.mark.integration
@pytest.mark.usefixtures("fresh_model_list")
def test_check_models_refuses_unknown_models(
    tmp_path: Path,
    env: dict[str, str],
    db: Database,
    keyed_mock: MockServer,
) -> None:
    env = {**env, "RESPQ_BASE_URL": keyed_mock.base_url, "RESPQ_API_KEY": MOCK_KEY}
    path = write_jsonl(tmp_path / "in.jsonl", 4)
    with path.open("ab") as handle:
        for i in (4, 5):
            body = {"model": "gpt-nope", "input": "x"}
            handle.write(orjson.dumps({"custom_id": f"bad-{i}", "body": body}) + b"\n")
    result = invoke(["submit", str(path), "--check-models"], env=env)
    assert result.exit_code == 2, result.output
    assert "line 5 (custom_id 'bad-4'): field 'body.model': unknown model 'gpt-nope'" in (
        result.stderr
    )
    assert "line 6 (custom_id 'bad-5')" in result.stderr
    assert MOCK_KEY not in result.output
    assert db.redis.dbsize() == 0  # nothing enqueued

    good = write_jsonl(tmp_path / "good.jsonl", 3)
    result = invoke(["submit", str(good), "--check-models"], env=env)
    assert result.exit_code == 0, result.output


def peak_submit(path: Path, db: Database) -> int:
    """Peak Python allocations (bytes) of one ``respq submit`` run."""
    env = env_for(db, unique_queue())
    tracemalloc.start()
    try:
        result = invoke(["submit", str(path)], env=env)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    return peak


@pytest.mark.integration
@pytest.mark.slow
def test_submit_memory_is_bounded(tmp_path: Path, db: Database) -> None:
    small = write_jsonl(tmp_path / "20k.jsonl", 20_000)
    large = write_jsonl(tmp_path / "100k.jsonl", 100_000)
    peak_small = peak_submit(small, db)
    db.flush()
    peak_large = peak_large_run = peak_submit(large, db)
    assert db.redis.zcard("respq:batches") == 1
    per_line = (peak_large - peak_small) / 80_000
    print(
        f"peak 20k={peak_small / 1e6:.1f} MB, 100k={peak_large_run / 1e6:.1f} MB, "
        f"{per_line:.0f} B/line"
    )
    assert peak_large < 150 * 1024 * 1024
    # Holding the requests would cost well over 500 bytes a line (body bytes, objects);
    # what grows is the set of custom_ids kept for duplicate detection.
    assert per_line < 250
    assert peak_large < 3 * peak_small

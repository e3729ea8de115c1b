"""The respq CLI without workers: options, exit codes, validation, the file reader."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import orjson
import pytest

from producer import InvalidInput
from producer.cli import app
from producer.cli.app import scrub
from producer.cli.jsonl import check_file, input_file, prepared_requests

from helpers.cli import (
    clean_db,
    env_for,
    invoke,
    redis_url,
    request_line,
    sync_redis,
    unique_queue,
    write_jsonl,
)

DB = 12


@pytest.fixture
def db() -> Iterator[int]:
    yield from clean_db(DB)


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"respq {version('respq')}"


def test_help_documents_exit_codes_and_commands() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    for text in ("Exit codes", "0  success", "1  finished", "2  bad usage", "3  cannot reach"):
        assert text in result.stdout
    for command in (
        "submit",
        "status",
        "watch",
        "results",
        "cancel",
        "retry",
        "list",
        "workers",
        "run",
        "mock-upstream",
    ):
        assert command in result.stdout


def test_unreachable_redis_exits_3_without_the_password(tmp_path: Path) -> None:
    url = "redis://alice:hunter2secret@127.0.0.1:1/0"
    for args in (["status", "batch_x"], ["list"], ["workers"], ["-v", "results", "b"]):
        result = invoke(["--redis-url", url, *args])
        assert result.exit_code == 3, result.output
        assert "hunter2secret" not in result.stdout + result.stderr
        assert "redis://alice:***@127.0.0.1:1/0" in result.stderr
        assert "Traceback" not in result.stderr
    # The URL may also come from the environment; submit validates first, then connects.
    batch = write_jsonl(tmp_path / "in.jsonl", 3)
    result = invoke(["submit", str(batch)], env={"RESPQ_REDIS_URL": url})
    assert result.exit_code == 3
    assert "hunter2secret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0?password=QpwSECRET7",
        "redis://127.0.0.1:1/0?db=0&password=QpwSECRET7",
        "redis+sentinel://127.0.0.1:1/mymaster?sentinel_password=QpwSECRET7",
        "redis+sentinel://:QpwSECRET7@127.0.0.1:1,127.0.0.1:2/mymaster/2",
        "redis://QpwSECRET7@127.0.0.1:1/0",
    ],
)
def test_unreachable_redis_never_prints_a_password_in_any_url_form(url: str) -> None:
    for args in (["list"], ["-v", "status", "batch_x"]):
        result = invoke(["--redis-url", url, *args])
        assert result.exit_code == 3, result.output
        assert "QpwSECRET7" not in result.stdout + result.stderr
        assert "***" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "redis://h:1/0?password=QpwSECRET7",
        "redis+sentinel://h:1/m?sentinel_password=QpwSECRET7",
        "redis+sentinel://u:QpwSECRET7@s1:1,s2:2/m/2",
        "redis://u:QpwSECRET7@[::1:6379/0",
    ],
)
def test_scrub_masks_passwords_of_every_url_form(url: str) -> None:
    message = "AUTH QpwSECRET7 failed (QpwSECRET7 is wrong)"
    assert scrub(message, url) == "AUTH *** failed (*** is wrong)"


def test_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = invoke(["--redis-url", redis_url(DB), "submit", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


BAD_LINES = [
    b"{not json",
    orjson.dumps(
        {"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {"input": "no model"}}
    ),
    orjson.dumps(
        {
            "custom_id": "hot",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "gpt-5.4", "input": "x", "temperature": 3},
        }
    ),
    request_line(1, cid="dup"),
    request_line(2, cid="dup"),
    orjson.dumps(
        {
            "custom_id": "wrong-url",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-5.4", "input": "x"},
        }
    ),
]


@pytest.mark.integration
def test_invalid_lines_exit_2_and_touch_nothing(tmp_path: Path, db: int) -> None:
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
    assert sync_redis(db).dbsize() == 0


@pytest.mark.integration
def test_many_invalid_lines_show_the_first_20(tmp_path: Path, db: int) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"[1]\n" * 25)
    result = invoke(["submit", str(path)], env=env_for(db, unique_queue()))
    assert result.exit_code == 2
    assert result.stderr.count("expected a JSON object") == 20
    assert "… and 5 more" in result.stderr
    assert sync_redis(db).dbsize() == 0


def test_bad_options_exit_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    url = redis_url(DB)
    for args in (
        ["submit", str(path), "--metadata", "novalue"],
        ["submit", str(path), "--batch-id", "has space"],
        ["submit", str(path), "--completion-window", "soon"],
        ["status"],
        ["frobnicate"],
    ):
        result = invoke(["--redis-url", url, *args])
        assert result.exit_code == 2, (args, result.output)


def test_empty_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    result = invoke(["--redis-url", redis_url(DB), "submit", str(path)])
    assert result.exit_code == 2
    assert "no requests" in result.stderr


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


def same_file_spellings(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "sub").mkdir()
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"")
    (tmp_path / "link.jsonl").symlink_to(out)
    (tmp_path / "hard.jsonl").hardlink_to(out)
    return [
        (str(out), str(out)),
        (str(out), str(tmp_path / "sub" / ".." / "out.jsonl")),
        (str(out), str(tmp_path / "link.jsonl")),
        (str(out), str(tmp_path / "hard.jsonl")),
        (str(tmp_path / "new.jsonl"), str(tmp_path / "sub" / ".." / "new.jsonl")),
    ]


def test_output_and_errors_naming_one_file_are_refused(tmp_path: Path) -> None:
    batch = write_jsonl(tmp_path / "in.jsonl", 2)
    env = {"RESPQ_REDIS_URL": "redis://127.0.0.1:1/0", "RESPQ_API_KEY": "sk-x"}
    for out, errors in same_file_spellings(tmp_path):
        for args in (
            ["results", "batch_x", "-o", out, "--errors", errors],
            ["submit", str(batch), "--wait", "-o", out, "--errors", errors],
            ["run", str(batch), "-o", out, "--errors", errors],
        ):
            result = invoke(args, env=env)
            assert result.exit_code == 2, (args, result.output)
            assert "name the same file" in result.stderr, args
            assert "cannot reach Redis" not in result.stderr  # refused before connecting
    assert (tmp_path / "out.jsonl").read_bytes() == b""
    assert not (tmp_path / "new.jsonl").exists()


def test_mock_upstream_passes_arguments_through(capsys: pytest.CaptureFixture[str]) -> None:
    # mockapi's own argparse answers --help (and exits 0): the arguments reached it.
    with pytest.raises(SystemExit) as exit_info:
        app(["mock-upstream", "--help"], prog_name="respq")
    assert exit_info.value.code == 0
    assert "--fail-rate" in capsys.readouterr().out


# -- the two-pass file reader ---------------------------------------------------------------


def test_check_file_counts_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"\n"
        + request_line(0)
        + b"\n  \n"
        + orjson.dumps({"model": "gpt-5.4", "input": "bare"})
        + b"\r\n"
    )
    checked = check_file(path)
    assert checked.requests == 2

    async def second_pass() -> list[str]:
        return [item.custom_id async for item in prepared_requests(path)]

    assert asyncio.run(second_pass()) == ["req-0", "line-4"]


def test_check_file_collects_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES))
    with pytest.raises(InvalidInput) as exc:
        check_file(path)
    assert exc.value.total_bad == 5


def test_stdin_is_spooled_and_read_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = request_line(0) + b"\n" + request_line(1) + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with input_file("-") as path:
        assert path.read_bytes() == data
        assert check_file(path).requests == 2
        spooled = path
    assert not spooled.exists()


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

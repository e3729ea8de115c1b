"""The ``respq`` program as a whole, in-process: --version and --help, exit codes for bad
usage and an unreachable Redis (whose password is never printed), and options refused
before anything connects."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from respq.producer.cli import app
from respq.producer.cli.app import scrub

from helpers.cli import invoke
from helpers.factories import write_jsonl

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"respq {version('respq')}"


def test_help_documents_exit_codes_and_commands() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    for text in ("Exit codes", "0  success", "1  finished", "2  bad usage", "3  cannot reach"):
        assert text in result.stdout
    commands = "submit status watch results cancel retry list workers run mock-upstream"
    for command in commands.split():
        assert command in result.stdout


def test_unreachable_redis_exits_3_without_the_password(tmp_path: Path) -> None:
    url = "redis://alice:hunter2secret@127.0.0.1:1/0"  # nothing listens on port 1
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


def test_bad_options_exit_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    url = NOWHERE  # refused before connecting
    for args in (
        ["submit", str(path), "--metadata", "novalue"],
        ["submit", str(path), "--batch-id", "has space"],
        ["submit", str(path), "--completion-window", "soon"],
        ["status"],
        ["frobnicate"],
    ):
        result = invoke(["--redis-url", url, *args])
        assert result.exit_code == 2, (args, result.output)


@pytest.mark.integration
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
    env = {"RESPQ_REDIS_URL": NOWHERE, "RESPQ_API_KEY": "sk-x"}
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

"""A batch file as respq submit reads it: once, validating every line and spooling the valid
requests, then enqueueing from the spool. Blank lines skipped, every problem collected,
stdin spooled; a line is never read past the size limit (a file without newlines cannot
exhaust memory); what is enqueued is what was validated, whatever happens to the file
afterwards; an enqueue that stops midway leaves no half-enqueued batch; and a full TMPDIR
is one line naming it and the space needed."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis
from typer.testing import CliRunner

from respq import BatchClient, ClientSettings, InvalidInput
from respq.contract.constants import BatchKeys
from respq.contract.errors import FileChanged, SpoolFull
from respq.producer import jsonl_file, spool
from respq.producer.cli import app
from respq.producer.cli.file_argument import input_file
from respq.producer.cli.submit import enqueue
from respq.producer.jsonl_file import (
    LINE_SLACK,
    CheckedFile,
    Line,
    check_file,
    prepared_requests,
    read_lines,
)
from respq.producer.spool import human_bytes
from respq.producer.submission import Submission

from helpers.factories import BAD_LINES, request_line
from helpers.faults import fail_enqueue_after

LIMIT = 64 * 1024


def test_a_huge_line_without_newlines_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "one-line.jsonl"
    huge = b'{"model": "m", "input": "' + b"x" * (8 << 20) + b'"}'
    path.write_bytes(huge + b"\n" + b'{"model": "m", "input": "ok"}\n[1]\n' + huge)
    bound = LIMIT + LINE_SLACK
    seen = [(line.lineno, line.size) for line in read_lines(path, LIMIT)]
    assert seen == [(1, len(huge) + 1), (2, 29), (3, 3), (4, len(huge))]
    assert all(len(line.data or b"") <= bound for line in read_lines(path, LIMIT))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput) as caught:
            check_file(path, max_request_bytes=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes held while reading 16 MiB of two lines"
    wheres = [(p.where, p.message.split(",")[0]) for p in caught.value.problems]
    assert wheres == [
        ("line 1", f"line is {len(huge) + 1} bytes"),
        ("line 3", "expected a JSON object"),
        ("line 4", f"line is {len(huge)} bytes"),
    ]


def same_size_edit(path: Path, lineno: int) -> None:
    """Change one model name on line ``lineno`` (1-based) without changing the file's size
    or its modification time: only the content tells."""
    before = path.stat()
    lines = path.read_bytes().split(b"\n")
    assert b"gpt-5.4" in lines[lineno - 1]
    lines[lineno - 1] = lines[lineno - 1].replace(b"gpt-5.4", b"gpt-5.5")
    path.write_bytes(b"\n".join(lines))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def batch_file(path: Path, n: int) -> Path:
    path.write_bytes(
        b"".join(
            orjson.dumps({"custom_id": f"c{i}", "body": {"model": "gpt-5.4", "input": f"q{i}"}})
            + b"\n"
            for i in range(n)
        )
    )
    return path


async def submit_checked(redis: FakeRedis, checked: CheckedFile, batch_id: str | None) -> None:
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    try:
        await enqueue(client, checked, Submission(batch_id=batch_id))
    finally:
        await client.close()


async def stored_models(redis: FakeRedis, batch_id: str) -> set[str]:
    bodies = await redis.hvals(BatchKeys(batch_id).req)
    return {orjson.loads(body)["model"] for body in bodies}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda path: same_size_edit(path, 3), id="same-size-early"),
        pytest.param(lambda path: same_size_edit(path, 4600), id="same-size-late"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[:-40]), id="truncated"),
        pytest.param(
            lambda path: path.write_bytes(path.read_bytes() + b'{"model": "gpt-5.4"}\n'),
            id="appended",
        ),
        pytest.param(lambda path: path.unlink(), id="deleted"),
    ],
)
async def test_what_is_enqueued_is_what_was_validated_whatever_the_file_does_after(
    tmp_path: Path, change: Any
) -> None:
    path = batch_file(tmp_path / "in.jsonl", 5000)
    redis = FakeRedis(server=FakeServer())
    with check_file(path) as checked:
        change(path)
        await submit_checked(redis, checked, "b1")
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    info = await (await client.get("b1")).status()
    await client.close()
    assert info.request_counts.total == 5000
    assert await waiting_requests(redis, "b1") == 5000
    assert await stored_models(redis, "b1") == {"gpt-5.4"}


def test_a_file_that_grows_while_it_is_validated_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = batch_file(tmp_path / "in.jsonl", 10)
    real = jsonl_file.read_lines

    def appending(*args: Any) -> Iterator[Line]:
        for n, line in enumerate(real(*args)):
            if n == 5:
                with path.open("ab") as handle:
                    handle.write(request_line(99) + b"\n")
            yield line

    monkeypatch.setattr(jsonl_file, "read_lines", appending)
    with pytest.raises(FileChanged, match=r"while validating.*nothing was enqueued"):
        check_file(path)


async def waiting_requests(redis: FakeRedis, batch_id: str) -> int:
    """Requests in the batch's jobs waiting for dispatch (no worker ran here)."""
    entries = await redis.lrange(BatchKeys(batch_id).jobs, 0, -1)
    return sum(int(entry.split(b"\n")[1]) for entry in entries)


class LostRedis(Exception):
    """Stands for whatever stops an enqueue midway (Redis gone, Ctrl-C)."""


async def test_an_enqueue_that_stops_midway_leaves_no_new_batch_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    fail_enqueue_after(client, 18, LostRedis("connection lost"), monkeypatch)
    path = batch_file(tmp_path / "in.jsonl", 5000)
    with check_file(path) as checked, pytest.raises(LostRedis):
        await enqueue(client, checked, Submission(batch_id="b1"))
    await client.close()
    assert await redis.dbsize() == 0  # slices were stored, then removed with the batch


async def test_an_existing_batch_keeps_what_it_had_and_a_rerun_adds_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = FakeRedis(server=FakeServer())
    with check_file(batch_file(tmp_path / "first.jsonl", 3)) as first:
        await submit_checked(redis, first, "b1")
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    fail_enqueue_after(client, 18, LostRedis("connection lost"), monkeypatch)
    path = batch_file(tmp_path / "more.jsonl", 5000)
    with check_file(path) as checked, pytest.raises(LostRedis):
        await enqueue(client, checked, Submission(batch_id="b1"))
    stored = (await (await client.get("b1")).status()).request_counts.total
    assert 3 < stored < 5000
    assert await waiting_requests(redis, "b1") == stored  # all of them in the batch's jobs
    # Running the same submit again adds the rest.
    with check_file(path) as checked:
        await submit_checked(redis, checked, "b1")
    info = await (await client.get("b1")).status()
    await client.close()
    assert info.request_counts.total == 5000
    assert await waiting_requests(redis, "b1") == 5000


def test_check_file_counts_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"\n"
        + request_line(0)
        + b"\n  \n"
        + orjson.dumps({"model": "gpt-5.4", "input": "bare"})
        + b"\r\n"
    )
    with check_file(path) as checked:
        assert (checked.requests, checked.lines) == (2, 4)

        async def second_pass() -> list[tuple[str, str, Any]]:
            return [
                (item.custom_id, item.model, orjson.loads(item.body))
                async for item in prepared_requests(checked)
            ]

        assert asyncio.run(second_pass()) == [
            ("req-0", "gpt-5.4-mini", orjson.loads(request_line(0))["body"]),
            ("line-4", "gpt-5.4", {"model": "gpt-5.4", "input": "bare"}),
        ]
    assert checked.spool.closed


def test_check_file_collects_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES))
    with pytest.raises(InvalidInput) as exc:
        check_file(path)
    assert exc.value.total_bad == 5


def test_stdin_is_copied_to_a_temp_file_that_is_removed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = request_line(0) + b"\n" + request_line(1) + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with input_file("-") as path:
        assert path.read_bytes() == data
        with check_file(path) as checked:
            assert checked.requests == 2
        spooled = path
    assert not spooled.exists()


def no_space(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_tmpdir_is_one_line_naming_tmpdir_and_the_space_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC simulated in-process (tests/reliability mounts a real full tmpfs where it
    may): the spool's write fails, and so would the flush of its buffer at close."""
    path = batch_file(tmp_path / "in.jsonl", 3000)
    monkeypatch.setattr(spool, "write_request", no_space)
    with pytest.raises(SpoolFull) as caught:
        check_file(path)
    needed = human_bytes(path.stat().st_size)
    assert str(caught.value) == (
        "no space left under TMPDIR for the spool of validated requests: this submit needs "
        f"about {needed} (the input's size) free there; free some space or point TMPDIR at "
        "a larger disk; nothing was enqueued"
    )
    # The CLI: its own exit code, that one line, no traceback; Redis never reached.
    result = CliRunner().invoke(
        app, ["submit", str(path)], env={"RESPQ_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    assert result.exit_code == 8, result.output
    assert result.stderr.strip() == f"error: {caught.value}"


def test_a_full_tmpdir_while_copying_stdin_is_said_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(request_line(0) + b"\n")))
    monkeypatch.setattr(spool.shutil, "copyfileobj", no_space)
    expected = r"the copy of standard input.*twice the input's size"
    with pytest.raises(SpoolFull, match=expected), input_file("-"):
        pass

"""A batch file read by respq submit's two passes: blank lines skipped, every problem
collected, stdin spooled so that it can be read twice; a line is never read past the size
limit (a file without newlines cannot exhaust memory), and a file that changes between the
passes is refused before a changed line is stored, leaving no half-enqueued batch."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis

from contract.constants import BatchKeys
from producer import BatchClient, ClientSettings, InvalidInput
from producer.cli.jsonl import (
    LINE_SLACK,
    CheckedFile,
    FileChanged,
    check_file,
    input_file,
    prepared_requests,
    read_lines,
)
from producer.cli.submit import enqueue

from helpers.factories import BAD_LINES, request_line

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
        await enqueue(client, checked, batch_id=batch_id, metadata={}, completion_window=None)
    finally:
        await client.close()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda path: same_size_edit(path, 3), id="same-size-early"),
        # after the first 4096 requests were already written to Redis, unsealed
        pytest.param(lambda path: same_size_edit(path, 4600), id="same-size-late"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[:-40]), id="truncated"),
        pytest.param(
            lambda path: path.write_bytes(path.read_bytes() + b'{"model": "gpt-5.4"}\n'),
            id="appended",
        ),
    ],
)
async def test_a_file_changed_between_the_passes_enqueues_nothing(
    tmp_path: Path, change: Any
) -> None:
    path = batch_file(tmp_path / "in.jsonl", 5000)
    checked = check_file(path)
    change(path)
    redis = FakeRedis(server=FakeServer())
    with pytest.raises(FileChanged) as caught:
        await submit_checked(redis, checked, None)
    assert str(path) in str(caught.value) and "changed" in str(caught.value)
    assert "nothing was enqueued" in str(caught.value)
    assert await redis.dbsize() == 0


async def waiting_requests(redis: FakeRedis, batch_id: str) -> int:
    """Requests in the batch's jobs waiting for dispatch (no worker ran here)."""
    entries = await redis.lrange(BatchKeys(batch_id).jobs, 0, -1)
    return sum(int(entry.split(b"\n")[1]) for entry in entries)


async def test_a_file_changed_under_a_resubmit_keeps_only_the_lines_before_the_change(
    tmp_path: Path,
) -> None:
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    first = batch_file(tmp_path / "first.jsonl", 3)
    await submit_checked(redis, check_file(first), "b1")
    path = batch_file(tmp_path / "more.jsonl", 5000)
    checked = check_file(path)
    same_size_edit(path, 4600)
    with pytest.raises(FileChanged) as caught:
        await submit_checked(redis, checked, "b1")
    assert "Batch b1 keeps the requests it had" in str(caught.value)
    stored = (await (await client.get("b1")).status()).request_counts.total
    assert 3 < stored < 4600  # the validated lines before the change; none from it on
    assert await waiting_requests(redis, "b1") == stored  # all of them in the batch's jobs
    # Running the same submit again on the restored file adds the rest.
    batch_file(path, 5000)
    await submit_checked(redis, check_file(path), "b1")
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

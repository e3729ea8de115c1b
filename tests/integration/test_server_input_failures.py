"""A Batch API file that cannot be enqueued fails its batch with the reason in
``errors.data[]``, one code per reason: a file that holds no request (``empty_file``), one
that changed while it was being validated (``file_changed``), and a server whose TMPDIR has
no room for the spool (``insufficient_storage``). Nothing is enqueued, and no message
carries the server's paths. The app runs in-process (ASGI) on the module's database of the
shared Redis, so the tests can make the disk fill up or the file change."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import Batch

from respq.contract.constants import BatchKeys
from respq.producer import jsonl_file, spool
from respq.producer.jsonl_file import Line

from helpers.asgi import served_sdk
from helpers.databases import Database
from helpers.factories import request_line
from helpers.polling import wait_until_async

pytestmark = pytest.mark.integration

CONTENT = b"".join(request_line(i) + b"\n" for i in range(3))


@pytest.fixture
async def api(db: Database, queue_name: str, tmp_path: Path) -> AsyncIterator[openai.AsyncOpenAI]:
    async with served_sdk(db.url, queue_name, tmp_path / "files") as sdk:
        yield sdk


async def failed_batch(api: openai.AsyncOpenAI, content: bytes) -> Batch:
    """Upload ``content``, make a batch of it and wait until it has ended."""
    file_id = (await api.files.create(file=("in.jsonl", content), purpose="batch")).id
    made = await api.batches.create(
        input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
    )

    async def ended() -> bool:
        return (await api.batches.retrieve(made.id)).status in ("completed", "failed")

    await wait_until_async(ended, 30, f"{made.id} to end", interval=0.05)
    return await api.batches.retrieve(made.id)


def the_one_error(batch: Batch, db: Database, files_dir: Path) -> tuple[str | None, str]:
    """The code and message of a failed batch's only error; checks nothing was enqueued."""
    assert batch.status == "failed", batch
    assert batch.errors is not None and batch.errors.data is not None
    (error,) = batch.errors.data
    message = error.message or ""
    assert str(files_dir) not in message and os.sep not in message, message
    assert db.redis.hget(BatchKeys(batch.id).meta, "total") == b"0"
    assert db.redis.llen(BatchKeys(batch.id).jobs) == 0
    return error.code, message


async def test_a_file_without_a_request_is_empty_file(
    api: openai.AsyncOpenAI, db: Database, tmp_path: Path
) -> None:
    batch = await failed_batch(api, b"\n  \n\n")
    code, message = the_one_error(batch, db, tmp_path / "files")
    assert (code, message) == (
        "empty_file",
        "The input file holds no requests; nothing was enqueued.",
    )


async def test_a_file_that_changes_while_it_is_validated_is_file_changed(
    api: openai.AsyncOpenAI, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = jsonl_file.read_lines

    def appending(path: Path, max_line_bytes: int) -> Iterator[Line]:
        for line in real(path, max_line_bytes):
            if line.lineno == 1:  # something writes to the stored file meanwhile
                with path.open("ab") as handle:
                    handle.write(request_line(9) + b"\n")
            yield line

    monkeypatch.setattr(jsonl_file, "read_lines", appending)
    batch = await failed_batch(api, CONTENT)
    code, message = the_one_error(batch, db, tmp_path / "files")
    assert code == "file_changed"
    assert message == "The input file changed while it was being validated; nothing was enqueued."


async def test_a_server_without_room_for_the_spool_is_insufficient_storage(
    api: openai.AsyncOpenAI,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_space(*_: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool, "write_request", no_space)
    batch = await failed_batch(api, CONTENT)
    code, message = the_one_error(batch, db, tmp_path / "files")
    assert code == "insufficient_storage"
    assert "no space left to validate this batch; nothing was enqueued" in message
    # The operator learns what to fix from the server's log.
    assert any("TMPDIR" in record.getMessage() for record in caplog.records)

"""``respq serve`` killed (SIGKILL) with batches in every non-terminal state a server owns,
then started again behind more than 1,000 newer batches: every batch ends terminal (also a
sealed one whose cancel stopped after its first page) and the half-received upload's
``.part`` file is gone."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest

from respq import BatchClient
from respq.contract.constants import BATCHES_KEY, UNSEALED_KEY, BatchKeys
from respq.contract.webhooks import new_event_id

from helpers.databases import Database
from helpers.factories import items, write_jsonl
from helpers.polling import wait_until
from helpers.processes import Managed
from helpers.server import API_KEY, TERMINAL, sdk, server_env, server_stack, start_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEWER_BATCHES = 1200
# Blank lines are skipped by the validator, one at a time: a pipeline reading them takes
# seconds, and the server only runs for the few calls the test makes after it starts one.
SLOW_BLANK_LINES = (
    100_000_000  # about 14 s of reading: more than the test's running windows add up to
)


def upload_slow(client: openai.OpenAI, files_dir: Path, content: bytes) -> str:
    """An input file whose validation takes seconds: padded on disk after the upload (the
    pipeline reads the file from disk)."""
    uploaded = client.files.create(file=("in.jsonl", content), purpose="batch")
    (files_dir / f"{uploaded.id}.jsonl").write_bytes(content + b"\n" * SLOW_BLANK_LINES)
    return uploaded.id


@contextmanager
def running(server: Managed) -> Iterator[None]:
    """Let the stopped server run for one call: its pipelines advance only while it answers
    the test, however slowly the test itself runs on a loaded machine."""
    server.signal(signal.SIGCONT)
    try:
        yield
    finally:
        server.signal(signal.SIGSTOP)


def start_upload(root: str) -> socket.socket:
    """An upload whose body is only partly sent: the server is writing its ``.part``."""
    host, port = root.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    body = (
        b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
        + b"x" * 200_000
    )
    sock.sendall(
        b"POST /v1/files HTTP/1.1\r\nHost: respq\r\n"
        + f"Authorization: Bearer {API_KEY}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=b0und\r\n"
        + b"Content-Length: 100000000\r\n\r\n"
        + body
    )
    return sock


def add_newer_batches(db: Database, after: int) -> None:
    """Ended batches created after every batch of the test, written straight to Redis."""
    pipe = db.redis.pipeline(transaction=False)
    for i in range(NEWER_BATCHES):
        batch_id = f"batch_newer{i:05d}"
        meta = {"id": batch_id, "status": "completed", "created_at": after + 1 + i // 100}
        pipe.hset(BatchKeys(batch_id).meta, mapping={**meta, "total": 0, "sealed": 1})
        pipe.zadd(BATCHES_KEY, {batch_id: after + 1 + i // 100})
    pipe.execute()


async def cancel_while_down(url: str, queue: str, batch_id: str) -> str:
    """What ``respq cancel`` does (the server is not needed for it); and a sealed batch of
    five requests whose cancel stopped after its first page, as when the process running
    it is killed. Returns that batch's id."""
    async with BatchClient.from_url(url, queue_name=queue + "-idle") as producer:
        await (await producer.get(batch_id)).cancel()
        batch = await producer.submit(items(5, model="gpt-5.4-mini"))
        keys = batch.keys
        await producer.scripts["cancel"](
            batch=keys,
            start=0,
            count=1,
            now=int(time.time()),
            finished_ttl=3600,
            id_token="test",
            event_id=new_event_id(),
        )
        return batch.id


def test_every_batch_a_killed_server_left_ends_after_a_restart(
    db: Database, tmp_path: Path
) -> None:
    content = write_jsonl(tmp_path / "in.jsonl", 3).read_bytes()
    with server_stack(tmp_path, db) as stack:
        api = sdk(stack)
        files = [upload_slow(api, stack.files_dir, content) for _ in range(3)]
        upload = start_upload(stack.root)
        wait_until(lambda: any(stack.files_dir.glob("*.part")), 10, "the upload's .part file")
        stack.server.signal(signal.SIGSTOP)
        made = []
        for file_id in files:
            with running(stack.server):
                batch = api.batches.create(
                    input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
                )
            made.append(batch.id)
        validating, cancelled, cancelled_later = made
        with running(stack.server):
            assert api.batches.cancel(cancelled).status == "cancelling"

        states = {
            batch_id: db.redis.hmget(BatchKeys(batch_id).meta, ["status", "sealed"])
            for batch_id in (validating, cancelled, cancelled_later)
        }
        stack.server.signal(signal.SIGKILL)
        stack.server.wait(10)
        upload.close()
        assert states == {
            validating: [b"validating", b"0"],
            cancelled: [b"cancelling", b"0"],
            cancelled_later: [b"validating", b"0"],
        }  # killed mid-pipeline

        half_cancelled = asyncio.run(cancel_while_down(db.url, stack.queue, cancelled_later))
        half = BatchKeys(half_cancelled).meta
        assert db.redis.hmget(half, ["status", "sealed", "failed"]) == [b"cancelling", b"1", b"1"]
        for path in stack.files_dir.glob("file-*.jsonl"):  # quick to validate from now on
            path.write_bytes(content)
        add_newer_batches(db, int(db.redis.hget(half, "created_at") or 0))
        assert db.redis.zcard(BATCHES_KEY) == NEWER_BATCHES + 4
        assert list(stack.files_dir.glob("*.part"))

        server, root = start_server(
            tmp_path / "restarted.log", server_env(db, stack.queue, stack.files_dir)
        )
        with server:
            again = openai.OpenAI(base_url=root + "/v1", api_key=API_KEY, max_retries=0)

            def ended() -> bool:
                return db.redis.hget(half, "status") == b"cancelled" and all(
                    again.batches.retrieve(batch_id).status in TERMINAL
                    for batch_id in (validating, cancelled, cancelled_later)
                )

            wait_until(ended, 60, "every batch to end", interval=0.2)
            done = again.batches.retrieve(validating)
            assert done.status == "completed" and done.request_counts is not None
            assert (done.request_counts.total, done.request_counts.completed) == (3, 3)
            for batch_id in (cancelled, cancelled_later):
                ended_batch = again.batches.retrieve(batch_id)
                assert ended_batch.status == "cancelled" and ended_batch.cancelled_at
            assert db.redis.hmget(half, ["total", "failed", "err:batch_cancelled"]) == [
                b"5",
                b"5",
                b"5",
            ]
            assert not list(stack.files_dir.glob("*.part"))
            assert db.redis.scard(UNSEALED_KEY) == 0

"""``respq serve`` killed (SIGKILL) with batches in every non-terminal state a server owns,
then started again behind more than 1,000 newer batches: every batch ends terminal and the
half-received upload's ``.part`` file is gone."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import openai
import pytest

from contract.constants import BATCHES_KEY, UNSEALED_KEY, BatchKeys
from producer import BatchClient

from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.polling import wait_until
from helpers.server import API_KEY, server_env, server_stack, start_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TERMINAL = ("completed", "failed", "cancelled", "expired")
NEWER_BATCHES = 1200
# Blank lines are skipped by the validator, one at a time: the pipeline is still reading
# them (a few seconds) when the server is killed.
SLOW_BLANK_LINES = 25_000_000


def create_batch(client: openai.OpenAI, files_dir: Path, content: bytes) -> str:
    """A batch whose pipeline will take seconds: its stored input is padded on disk after
    the upload (the validator reads the file again from disk)."""
    uploaded = client.files.create(file=("in.jsonl", content), purpose="batch")
    (files_dir / f"{uploaded.id}.jsonl").write_bytes(content + b"\n" * SLOW_BLANK_LINES)
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
    )
    return batch.id


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


async def cancel_while_down(url: str, queue: str, batch_id: str) -> None:
    """What ``respq cancel`` does: the server is not needed for it."""
    async with BatchClient.from_url(url, queue_name=queue) as producer:
        await (await producer.get(batch_id)).cancel()


def test_every_batch_a_killed_server_left_ends_after_a_restart(
    db: Database, tmp_path: Path
) -> None:
    content = write_jsonl(tmp_path / "in.jsonl", 3).read_bytes()
    with server_stack(tmp_path, db) as stack:
        api = openai.OpenAI(base_url=stack.base_url, api_key=API_KEY, max_retries=0)
        validating = create_batch(api, stack.files_dir, content)
        cancelled = create_batch(api, stack.files_dir, content)
        assert api.batches.cancel(cancelled).status == "cancelling"
        cancelled_later = create_batch(api, stack.files_dir, content)
        upload = start_upload(stack.root)
        wait_until(lambda: any(stack.files_dir.glob("*.part")), 10, "the upload's .part file")

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

        asyncio.run(cancel_while_down(db.url, stack.queue, cancelled_later))
        for path in stack.files_dir.glob("file-*.jsonl"):  # quick to validate from now on
            path.write_bytes(content)
        created = int(db.redis.hget(BatchKeys(validating).meta, "created_at") or 0)
        add_newer_batches(db, created)
        assert db.redis.zcard(BATCHES_KEY) == NEWER_BATCHES + 3
        assert list(stack.files_dir.glob("*.part"))

        server, root = start_server(
            tmp_path / "restarted.log", server_env(db, stack.queue, stack.files_dir)
        )
        with server:
            again = openai.OpenAI(base_url=root + "/v1", api_key=API_KEY, max_retries=0)

            def ended() -> bool:
                return all(
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
            assert not list(stack.files_dir.glob("*.part"))
            assert db.redis.scard(UNSEALED_KEY) == 0

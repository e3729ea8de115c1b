"""An upstream that never finishes, against a real worker process over real HTTP: a 2xx
body trickled one byte per 0.2 s and an SSE stream of ``: keep-alive`` comments for ever.
Each attempt ends at its deadline, the connection is closed, and the batch ends with
``request_timeout`` / ``stream_interrupted`` after the attempts instead of never."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from respq import BatchClient, BatchStatus

from helpers.databases import Database
from helpers.polling import wait_until_async
from helpers.processes import start_worker

pytestmark = [pytest.mark.integration]

TRICKLE_EVERY_S = 0.2
REQUEST_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 0.5
ATTEMPTS = 2


class NeverFinishing:
    """A tiny HTTP/1.1 server: a plain request gets a 2xx whose body trickles one byte
    every 0.2 s, a streamed one an event stream of keep-alive comments at the same pace,
    both for as long as the client listens. Counts sends per input and open connections."""

    def __init__(self) -> None:
        self.sends: Counter[str] = Counter()
        self.open = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            body = orjson.loads(await reader.readexactly(int(length.group(1)) if length else 0))
            self.sends[body["input"]] += 1
            if body.get("stream"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
                chunk = b": keep-alive\n\n"
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: 1000000\r\n\r\n{"
                )
                chunk = b" "
            while not reader.at_eof():  # the client closed its end
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(TRICKLE_EVERY_S)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest.mark.timeout(90)
async def test_trickled_and_keep_alive_answers_end_at_their_deadlines(
    tmp_path: Path, queue_name: str, db: Database
) -> None:
    upstream = NeverFinishing()
    base_url = await upstream.start()
    try:
        with start_worker(
            tmp_path / "worker.log",
            redis_url=db.url,
            queue_name=queue_name,
            base_url=base_url,
            request_timeout=REQUEST_TIMEOUT_S,
            stream_idle_timeout=IDLE_TIMEOUT_S,
            max_attempts=ATTEMPTS,
            retry_base=0.1,
            retry_cap=0.2,
        ) as worker:
            async with BatchClient.from_url(db.url, queue_name=queue_name) as client:
                batch = await client.submit(
                    [
                        {"custom_id": "trickle", "body": {"model": "m", "input": "trickle"}},
                        {
                            "custom_id": "keep-alive",
                            "body": {"model": "m", "input": "keep-alive", "stream": True},
                        },
                    ]
                )
                started = time.monotonic()
                # attempts x deadline + backoff, and slack for a loaded machine
                bound = ATTEMPTS * (REQUEST_TIMEOUT_S + 0.2) + 10
                info = await batch.wait(timeout=bound, poll_interval=0.05)
                took = time.monotonic() - started
                codes = {line.custom_id: line.code async for line in batch.results()}

                async def all_closed() -> bool:
                    return upstream.open == 0

                await wait_until_async(all_closed, 5, "every upstream connection closed")
            assert worker.alive()
    finally:
        await upstream.stop()
    print(f"\nnever-finishing upstream: batch ended {took:.1f}s after submit")
    assert info.status is BatchStatus.COMPLETED
    assert codes == {"trickle": "request_timeout", "keep-alive": "stream_interrupted"}
    assert upstream.sends == {"trickle": ATTEMPTS, "keep-alive": ATTEMPTS}
    assert took >= ATTEMPTS * IDLE_TIMEOUT_S

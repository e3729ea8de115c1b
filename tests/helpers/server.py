"""A whole ``respq serve`` deployment for the server tests: mockapi in-process, one worker
process and one ``respq serve`` process, on the test module's database and a queue of their
own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai
from openai.types import Batch

from mockapi import MockConfig, MockServer

from helpers.databases import Database
from helpers.factories import unique_queue
from helpers.paths import PRICES
from helpers.polling import wait_until
from helpers.ports import free_port
from helpers.processes import Managed, clean_env, http_ok, start_worker

API_KEY = "sk-respq-test-key"
OTHER_KEY = "sk-respq-second-key"
MOCK_KEY = "mock-upstream-key"


@dataclass
class Stack:
    """What a test talks to."""

    root: str  # http://127.0.0.1:PORT
    queue: str
    mock: MockServer
    server: Managed
    files_dir: Path
    db: Database

    @property
    def base_url(self) -> str:
        return self.root + "/v1"


def server_env(db: Database, queue: str, files_dir: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        RESPQ_REDIS_URL=db.url,
        RESPQ_QUEUE_NAME=queue,
        RESPQ_CHUNK_SIZE="1",
        RESPQ_FILES_DIR=str(files_dir),
        RESPQ_SERVER_API_KEYS=f"{API_KEY},{OTHER_KEY}",
        RESPQ_PRICES=str(PRICES),
        **extra,
    )


def serve_command(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "producer.cli", "serve", "--port", str(port), *flags]


def start_server(log: Path, env: dict[str, str], *flags: str) -> tuple[Managed, str]:
    """``respq serve`` on a free port; returns (process, root URL) once it serves."""
    port = free_port()
    proc = Managed(serve_command(port, "--log-level", "warning", *flags), env, log)
    root = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(root + "/static/style.css"), 30, "respq serve start-up")
    return proc, root


@contextmanager
def server_stack(tmp: Path, db: Database, *, latency: float = 0.0) -> Iterator[Stack]:
    """mockapi + one worker (4 requests at a time) + ``respq serve``, all torn down after."""
    queue = unique_queue("server-test")
    files_dir = tmp / "files"
    with ExitStack() as stack:
        mock = stack.enter_context(MockServer(MockConfig(api_key=MOCK_KEY, latency=latency)))
        stack.enter_context(
            start_worker(
                tmp / "worker.log",
                redis_url=db.url,
                queue_name=queue,
                base_url=mock.base_url,
                api_key=MOCK_KEY,
                chunk_size=1,
                max_jobs=4,
                shutdown_grace=1,
                log_level="WARNING",
            )
        )
        server, root = start_server(tmp / "server.log", server_env(db, queue, files_dir))
        stack.enter_context(server)
        yield Stack(root, queue, mock, server, files_dir, db)


def upload(client: openai.OpenAI, path: Path) -> str:
    """``files.create`` of a batch input file; its id."""
    with path.open("rb") as handle:
        return client.files.create(file=handle, purpose="batch").id


def wait_done(client: openai.OpenAI, batch_id: str, timeout: float = 60) -> Batch:
    """Poll ``batches.retrieve`` as the SDK's users do, until the batch has ended."""
    terminal = ("completed", "failed", "cancelled", "expired")

    def ended() -> bool:
        return client.batches.retrieve(batch_id).status in terminal

    wait_until(ended, timeout, f"{batch_id} to end", interval=0.1)
    return client.batches.retrieve(batch_id)

"""A whole ``respq serve`` deployment for the server tests: mockapi in-process, one worker
process and one ``respq serve`` process, on the test module's database and a queue of their
own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
from openai.types import Batch

from respq.mockapi import MockConfig, MockServer

from helpers.databases import Database
from helpers.factories import unique_queue
from helpers.paths import PRICES
from helpers.polling import wait_until
from helpers.ports import free_port
from helpers.processes import Managed, clean_env, http_ok, start_worker

# Client keys of the test server: two bare keys (two tenants), two keys of one named
# tenant, and an admin key.
API_KEY = "sk-respq-test-key"
OTHER_KEY = "sk-respq-second-key"
TEAM = "team-c"
TEAM_KEYS = ("sk-respq-team-one", "sk-respq-team-two")
ADMIN_KEY = "sk-respq-admin-key"
MOCK_KEY = "mock-upstream-key"
# The statuses of a batch that has ended, as the SDK's users test for them.
TERMINAL = ("completed", "failed", "cancelled", "expired")


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
        RESPQ_SERVER_API_KEYS=",".join([API_KEY, OTHER_KEY, *(f"{TEAM}:{k}" for k in TEAM_KEYS)]),
        RESPQ_SERVER_ADMIN_KEYS=ADMIN_KEY,
        RESPQ_PRICES=str(PRICES),
        **extra,
    )


def serve_command(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "respq.producer.cli", "serve", "--port", str(port), *flags]


def start_server(log: Path, env: dict[str, str], *flags: str) -> tuple[Managed, str]:
    """``respq serve`` on a free port; returns (process, root URL) once it serves."""
    port = free_port()
    proc = Managed(serve_command(port, "--log-level", "warning", *flags), env, log)
    root = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(root + "/static/style.css"), 30, "respq serve start-up")
    return proc, root


@contextmanager
def server_stack(
    tmp: Path,
    db: Database,
    *,
    latency: float = 0.0,
    worker: dict[str, Any] | None = None,
    **env: str,
) -> Iterator[Stack]:
    """mockapi + one worker (4 requests at a time; ``worker`` adds RESPQ_* settings, as
    ``start_worker`` takes them) + ``respq serve`` (``env`` adds to its environment), all
    torn down after."""
    queue = unique_queue("server-test")
    files_dir = tmp / "files"
    settings: dict[str, Any] = {"chunk_size": 1, "worker_in_flight": 4, "shutdown_grace": 1}
    with ExitStack() as stack:
        mock = stack.enter_context(MockServer(MockConfig(api_key=MOCK_KEY, latency=latency)))
        stack.enter_context(
            start_worker(
                tmp / "worker.log",
                redis_url=db.url,
                queue_name=queue,
                base_url=mock.base_url,
                api_key=MOCK_KEY,
                log_level="WARNING",
                **{**settings, **(worker or {})},
            )
        )
        server, root = start_server(tmp / "server.log", server_env(db, queue, files_dir, **env))
        stack.enter_context(server)
        yield Stack(root, queue, mock, server, files_dir, db)


@contextmanager
def signed_in(stack: Stack, key: str) -> Iterator[httpx.Client]:
    """A dashboard client signed in with ``key`` (its session cookie kept)."""
    with httpx.Client(base_url=stack.root, timeout=10) as browser:
        answer = browser.post("/login", data={"key": key})
        assert answer.status_code == 303, answer.text
        yield browser


def sdk(stack: Stack, key: str = API_KEY) -> openai.OpenAI:
    """The official SDK on the stack's server with ``key``; no retries, so a test sees
    each answer."""
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def upload(client: openai.OpenAI, path: Path) -> str:
    """``files.create`` of a batch input file; its id."""
    with path.open("rb") as handle:
        return client.files.create(file=handle, purpose="batch").id


def start_batch(client: openai.OpenAI, path: Path) -> str:
    """Upload ``path`` and make a Responses batch of it, as the SDK's users do; its id."""
    return client.batches.create(
        input_file_id=upload(client, path), endpoint="/v1/responses", completion_window="24h"
    ).id


def wait_done(client: openai.OpenAI, batch_id: str, timeout: float = 60) -> Batch:
    """Poll ``batches.retrieve`` as the SDK's users do, until the batch has ended."""

    def ended() -> bool:
        return client.batches.retrieve(batch_id).status in TERMINAL

    wait_until(ended, timeout, f"{batch_id} to end", interval=0.1)
    return client.batches.retrieve(batch_id)

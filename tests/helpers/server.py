"""A whole ``respq serve`` deployment for the server tests: mockapi in-process, one worker
process and one ``respq serve`` process, on Redis DB 3 and a queue of their own."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from mockapi import MockConfig, MockServer

from helpers.paths import ROOT
from helpers.processes import Managed, poll, start_worker
from helpers.redis_servers import free_port

SERVER_DB = 3
REDIS_URL = os.environ.get("RESPQ_TEST_REDIS_URL", "redis://127.0.0.1:6379") + f"/{SERVER_DB}"
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

    @property
    def base_url(self) -> str:
        return self.root + "/v1"


def server_env(queue: str, files_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPQ_", "MOCKAPI_"))}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "RESPQ_REDIS_URL": REDIS_URL,
            "RESPQ_QUEUE_NAME": queue,
            "RESPQ_CHUNK_SIZE": "1",
            "RESPQ_FILES_DIR": str(files_dir),
            "RESPQ_SERVER_API_KEYS": f"{API_KEY},{OTHER_KEY}",
            "RESPQ_PRICES": str(ROOT / "examples" / "prices.toml"),
            **extra,
        }
    )
    return env


def serve_command(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "producer.cli", "serve", "--port", str(port), *flags]


def start_server(log: Path, env: dict[str, str], *flags: str) -> tuple[Managed, str]:
    port = free_port()
    proc = Managed(serve_command(port, "--log-level", "warning", *flags), env, log)
    root = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise AssertionError(f"respq serve exited early:\n{proc.output()[-3000:]}")
        try:
            return httpx.get(root + "/static/style.css", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        poll(up, 30, "respq serve start-up")
    except BaseException:
        proc.kill()
        raise
    return proc, root


@contextmanager
def server_stack(tmp: Path, *, latency: float = 0.0) -> Iterator[Stack]:
    """mockapi + one worker (4 requests at a time) + ``respq serve``, all torn down after."""
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    queue = f"respq-server-test:{uuid.uuid4().hex[:10]}"
    files_dir = tmp / "files"
    with ExitStack() as stack:
        mock = stack.enter_context(MockServer(MockConfig(api_key=MOCK_KEY, latency=latency)))
        stack.enter_context(
            start_worker(
                tmp / "worker.log",
                redis_url=REDIS_URL,
                queue_name=queue,
                base_url=mock.base_url,
                api_key=MOCK_KEY,
                chunk_size=1,
                max_jobs=4,
                shutdown_grace=1,
                log_level="WARNING",
            )
        )
        server, root = start_server(tmp / "server.log", server_env(queue, files_dir))
        stack.enter_context(server)
        yield Stack(root, queue, mock, server, files_dir)
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()

"""Where ``respq run`` finds Redis: the URL given, one on localhost:6379, or a private
``redis-server`` started for the run (no persistence, in a temp dir, on a free port)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from respq.contract.errors import CliError
from respq.contract.exit_codes import ExitCode
from respq.contract.redis_conn import redact_url
from respq.producer.cli.app import State, err_console
from respq.producer.cli.processes import (
    Child,
    Children,
    free_port,
    redis_answers,
    redis_probe,
    wait_ready,
)

LOCAL_URL = "redis://127.0.0.1:6379/0"
# Set to 1 to skip looking at localhost:6379 and always start a private server.
FORCE_PRIVATE_ENV = "RESPQ_RUN_PRIVATE_REDIS"
INSTALL_HINT = (
    "redis-server was not found on PATH. Install Redis (Debian/Ubuntu: "
    "`apt-get install redis-server`; macOS: `brew install redis`), or point respq at a "
    "running server with --redis-url / RESPQ_REDIS_URL."
)


@dataclass(frozen=True)
class FoundRedis:
    url: str
    private: bool
    child: Child | None = None


def _forced_private() -> bool:
    return os.environ.get(FORCE_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


async def find_redis(state: State, children: Children, probe_url: str = LOCAL_URL) -> FoundRedis:
    """The URL given (it must answer: exit 3 otherwise), else localhost:6379 when it
    answers, else a private redis-server."""
    if state.redis_url_option:
        url = state.redis_url_option
        if not await redis_answers(url, timeout=5.0):
            raise CliError(f"cannot reach Redis at {redact_url(url)}", ExitCode.REDIS)
        err_console.print(f"using Redis at {redact_url(url)}", markup=False)
        return FoundRedis(url, private=False)
    if not _forced_private() and await redis_answers(probe_url, timeout=0.5):
        err_console.print(f"using the Redis answering at {probe_url}", markup=False)
        return FoundRedis(probe_url, private=False)
    why = (
        f"{FORCE_PRIVATE_ENV} is set"
        if _forced_private()
        else ("no Redis given and none answers on localhost:6379")
    )
    return await start_private(children, why)


async def start_private(children: Children, why: str) -> FoundRedis:
    binary = shutil.which("redis-server")
    if binary is None:
        raise CliError(INSTALL_HINT)
    data_dir = Path(children.log_dir) / "redis"
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    argv = [
        binary,
        "--save",
        "",
        "--appendonly",
        "no",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
    ]
    child = await children.start("redis-server", argv, dict(os.environ), log_name="redis.log")
    await wait_ready(child, redis_probe(url), what=f"PING on port {port}")
    err_console.print(
        f"{why}: started a private redis-server on port "
        f"{port} (not persistent; it stops when this run ends)",
        markup=False,
    )
    return FoundRedis(url, private=True, child=child)

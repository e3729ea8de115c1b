"""Child processes of ``respq run`` (workers, mockapi, a private redis-server): start,
wait until ready, watch, and stop them in order (SIGTERM, wait, then SIGKILL)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from asyncio.subprocess import Process
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("respq.cli")

READY_TIMEOUT = 20.0
READY_POLL = 0.05
STOP_TIMEOUT = 15.0
LOG_TAIL_BYTES = 2000


def free_port() -> int:
    """A TCP port nothing listens on right now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class StartError(Exception):
    """A child process did not start or did not become ready."""


@dataclass
class Child:
    """One running child process and where its output goes."""

    name: str
    proc: Process
    log_path: Path | None

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(max(self.log_path.stat().st_size - LOG_TAIL_BYTES, 0))
            return handle.read().decode(errors="replace").strip()

    def describe_exit(self) -> str:
        tail = self.log_tail()
        text = f"{self.name} exited with code {self.proc.returncode}"
        return f"{text}; its last output:\n{tail}" if tail else text

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL."""
        if not self.alive:
            return
        log.debug("stopping %s (pid %d)", self.name, self.proc.pid)
        try:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), timeout)
        except ProcessLookupError:
            return
        except TimeoutError:
            log.debug("%s ignored SIGTERM for %.0fs; killing it", self.name, timeout)
            try:
                self.proc.kill()
            except ProcessLookupError:
                return
            await self.proc.wait()


@dataclass
class Children:
    """Every child of one run; stopped in reverse start order."""

    log_dir: Path
    inherit_output: bool = False
    children: list[Child] = field(default_factory=list)

    async def start(
        self, name: str, argv: Sequence[str], env: dict[str, str], *, log_name: str
    ) -> Child:
        log_path = None if self.inherit_output else self.log_dir / log_name
        log.debug("starting %s: %s", name, " ".join(argv))
        with open(os.devnull, "rb") as devnull:  # noqa: ASYNC230 - opening /dev/null
            out = None if log_path is None else log_path.open("ab")
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=devnull,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT if out is not None else None,
                    env=env,
                    # Own session: Ctrl-C on the terminal reaches only respq, which then
                    # stops the children in order (Redis last, after results are written).
                    start_new_session=True,
                )
            finally:
                if out is not None:
                    out.close()
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def dead(self, prefix: str) -> list[Child]:
        return [c for c in self.children if c.name.startswith(prefix) and not c.alive]

    def named(self, prefix: str) -> list[Child]:
        return [c for c in self.children if c.name.startswith(prefix)]

    async def stop_all(self, names: Sequence[str] | None = None) -> None:
        """Stop (some) children, newest first; workers stop together."""
        chosen = [c for c in reversed(self.children) if names is None or c.name in names]
        workers = [c for c in chosen if c.name.startswith("worker")]
        await asyncio.gather(*(c.stop() for c in workers))
        for child in chosen:
            if child not in workers:
                await child.stop()


async def wait_ready(
    child: Child,
    probe: Callable[[], Awaitable[bool]],
    *,
    what: str,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Poll ``probe`` until it answers True, the child dies, or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        if await probe():
            log.debug("%s ready", child.name)
            return
        if not child.alive:
            raise StartError(child.describe_exit())
        if time.monotonic() > deadline:
            tail = child.log_tail()
            raise StartError(
                f"{child.name} not ready after {timeout:.0f}s ({what})"
                + (f"; its last output:\n{tail}" if tail else "")
            )
        await asyncio.sleep(READY_POLL)


def http_probe(url: str) -> Callable[[], Awaitable[bool]]:
    import httpx  # here, not at the top: every respq command imports this module

    async def probe() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def redis_probe(url: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await redis_answers(url)

    return probe


async def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING at ``url``."""
    client = Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False
    )
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()

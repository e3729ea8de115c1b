"""A broken environment, met as a user meets it: each failure is one line on stderr naming
the cause and the setting to change, with an exit code of its own, no traceback, no
request body and no password, and nothing half-enqueued. Each case runs the real console
scripts against a private ``redis-server`` put in that state: over its ``maxmemory``,
a read-only replica, frozen by SIGSTOP (every command gives up within
RESPQ_REDIS_TIMEOUT), and a TMPDIR on a tiny full tmpfs."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import string
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from respq import BatchClient, RedisOutOfMemory
from respq.contract.constants import BatchKeys
from respq.producer import client as client_module
from respq.producer.spool import human_bytes

from helpers.cli import respq
from helpers.paths import RESPQ, ROOT
from helpers.ports import free_port
from helpers.processes import clean_env
from helpers.redis_servers import RedisServer

pytestmark = pytest.mark.integration

PASSWORD = "env-fail-pw"
PROMPT_MARK = "PROMPT-TEXT-"


def big_prompt_file(path: Path, lines: int, prompt_bytes: int) -> Path:
    """``lines`` requests whose prompts are random (Redis cannot compress them away) and
    marked, so a leak of any of them into a message is seen."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + " "
    with path.open("wb") as handle:
        for i in range(lines):
            prompt = PROMPT_MARK + "".join(rng.choices(alphabet, k=prompt_bytes))
            body = {"model": "gpt-5.4-mini", "input": prompt}
            line = {"custom_id": f"c{i}", "method": "POST", "url": "/v1/responses", "body": body}
            handle.write(orjson.dumps(line) + b"\n")
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[:2000]
    assert "Traceback" not in stderr
    assert PASSWORD not in stderr and PROMPT_MARK not in stderr
    return lines[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis", password=PASSWORD) as running:
        try:
            yield running
        finally:
            running.kill()


def env(server: RedisServer, **extra: str) -> dict[str, str]:
    return clean_env(RESPQ_REDIS_URL=server.url(0), **extra)


def test_submit_into_redis_over_maxmemory_exits_5_and_leaves_nothing(
    server: RedisServer, tmp_path: Path
) -> None:
    path = big_prompt_file(tmp_path / "big.jsonl", 400, 16000)  # 6.4 MB of prompts
    with server.client() as sync:
        used = int(sync.info("memory")["used_memory"])
        # Room for a few slices: the enqueue stops midway, after some of them are stored.
        sync.config_set("maxmemory", used + 2_000_000)
        sync.config_set("maxmemory-policy", "noeviction")
        out = respq("submit", str(path), env=env(server))
        print(f"\nsubmit over maxmemory: exit {out.returncode}, {len(out.stderr)} bytes of stderr")
        assert out.returncode == 5, out.stderr[:2000]
        line = one_line(out.stderr)
        assert "out of memory" in line and "maxmemory" in line, line
        assert "nothing of batch" in line and "was kept" in line, line
        assert out.stdout == ""
        assert sync.dbsize() == 0  # not a request, job, record or index entry of it


async def test_the_python_api_removes_the_batch_while_redis_stays_over_maxmemory(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other clients' writes may keep Redis over its maxmemory after the submit failed:
    then Redis refuses to queue any command in a transaction, and the removal must not
    need one."""
    rng = random.Random(3)
    prompts = ["".join(rng.choices(string.ascii_letters, k=16000)) for _ in range(400)]
    real_discard = client_module.discard_unsealed
    with server.client() as sync:
        used = int(sync.info("memory")["used_memory"])
        sync.config_set("maxmemory", used + 2_000_000)

        async def while_full(client: BatchClient, keys: BatchKeys) -> bool:
            sync.config_set("maxmemory", 1)  # the rest of the room is taken meanwhile
            return await real_discard(client, keys)

        monkeypatch.setattr(client_module, "discard_unsealed", while_full)
        async with BatchClient.from_url(server.url(0)) as client:
            with pytest.raises(RedisOutOfMemory) as caught:
                await client.submit([{"model": "gpt-5.4", "input": p} for p in prompts])
        sync.config_set("maxmemory", 0)
        assert "nothing of batch" in str(caught.value) and PASSWORD not in str(caught.value)
        assert sync.dbsize() == 0


def test_submit_into_a_read_only_replica_exits_6_naming_the_url_setting(
    server: RedisServer, tmp_path: Path
) -> None:
    path = big_prompt_file(tmp_path / "in.jsonl", 20, 100)
    with server.client() as sync:
        sync.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # a primary never met
        try:
            out = respq("submit", str(path), env=env(server))
            assert out.returncode == 6, out.stderr
            line = one_line(out.stderr)
            assert "read-only replica" in line and "RESPQ_REDIS_URL" in line, line
            assert sync.dbsize() == 0
        finally:
            sync.execute_command("REPLICAOF", "NO", "ONE")


@contextlib.contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


@pytest.mark.slow
def test_every_command_gives_up_on_a_frozen_redis_within_the_timeout(
    server: RedisServer,
) -> None:
    timeout = 1.0
    settings = env(server, RESPQ_REDIS_TIMEOUT=str(timeout))
    commands = {
        "status": [str(RESPQ), "status", "batch_x"],
        "list": [str(RESPQ), "list"],
        "workers": [str(RESPQ), "workers"],
        "check": [str(RESPQ.parent / "arq"), "respq.worker.WorkerSettings", "--check"],
    }
    with frozen(server):
        started = time.monotonic()
        running = {
            name: subprocess.Popen(
                command, env=settings, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for name, command in commands.items()
        }
        try:
            # Python start-up is most of it; a hang (as before) never ends.
            done = {name: proc.communicate(timeout=30) for name, proc in running.items()}
        finally:
            for proc in running.values():
                proc.kill()
        elapsed = time.monotonic() - started
    print(f"\nfour commands against a frozen Redis, timeout {timeout}s: {elapsed:.1f}s")
    assert elapsed < 20  # the four at once, each ~1 s of Python start-up plus the timeout
    for name, (_, err) in done.items():
        line = one_line(err.decode())
        assert "RESPQ_REDIS_TIMEOUT" in line and f"within {timeout:g}s" in line, (name, line)
        expected = 1 if name == "check" else 4  # --check: a health check's 1 (unhealthy)
        assert running[name].returncode == expected, (name, line)


def mount_tiny_tmpfs(directory: Path) -> bool:
    """A 64 KiB tmpfs at ``directory``; False where mounting is not allowed."""
    directory.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)]
    try:
        return subprocess.run(command, capture_output=True, timeout=10).returncode == 0
    except OSError:
        return False


def test_submit_with_tmpdir_full_exits_8_naming_tmpdir_and_the_space_needed(
    tmp_path: Path,
) -> None:
    tiny = tmp_path / "tiny"
    if not mount_tiny_tmpfs(tiny):
        pytest.skip("cannot mount a tmpfs here (tests/unit covers ENOSPC in-process)")
    try:
        path = big_prompt_file(tmp_path / "in.jsonl", 100, 3000)  # ~300 KB
        # No Redis at this URL: reaching it would be exit 3, not the disk's exit 8.
        settings = clean_env(RESPQ_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", TMPDIR=str(tiny))
        out = respq("submit", str(path), env=settings)
        assert out.returncode == 8, out.stderr
        line = one_line(out.stderr)
        assert "TMPDIR" in line and "nothing was enqueued" in line, line
        assert f"about {human_bytes(path.stat().st_size)}" in line, line  # the input's size
        stdin = subprocess.run(
            [str(RESPQ), "submit", "-"],
            input=path.read_bytes(),
            env=settings,
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        assert stdin.returncode == 8, stdin.stderr
        assert "twice the input's size" in one_line(stdin.stderr.decode())
        assert list(tiny.iterdir()) == []  # the partial copies are gone
    finally:
        subprocess.run(["umount", str(tiny)], capture_output=True, timeout=30)

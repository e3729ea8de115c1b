"""A bad setting stops a worker, the CLI or the mock API with one line naming the variable
and what it allows (no pydantic traceback)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.paths import RESPQ, ROOT
from helpers.processes import clean_env

BIN = Path(sys.executable).parent
LEVELS = "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"
MOCK_LEVELS = "critical, error, warning, info, debug, trace"

# test id: (command, with {batch} for a one-line batch file; the bad setting; what the one
# line must say is allowed)
PROCESSES = {
    "python -m respq.worker": ("python -m respq.worker", "RESPQ_LOG_LEVEL=LOUD", LEVELS),
    "arq respq.worker.WorkerSettings": (
        "arq respq.worker.WorkerSettings",
        "RESPQ_WORKER_IN_FLIGHT=0",
        "greater than or equal to 1",
    ),
    "worker limit algorithm": (
        "python -m respq.worker",
        "RESPQ_LIMIT_ALGORITHM=fast",
        "'gcra' or 'window'",
    ),
    "respq list": ("respq list", "RESPQ_CHUNK_SIZE=many", "valid integer"),
    "respq submit": (
        "respq submit {batch}",
        "RESPQ_MAX_REQUEST_BYTES=12",
        "greater than or equal to 1024",
    ),
    "respq submit --check-models": (
        "respq submit --check-models {batch}",
        "RESPQ_AUTH_HEADER=bearer",
        "'authorization' or 'x-api-key'",
    ),
    "respq mock-upstream": ("respq mock-upstream", "MOCKAPI_FAIL_RATE=2", "within 0..1"),
    "python -m respq.mockapi log level": (
        "python -m respq.mockapi",
        "MOCKAPI_LOG_LEVEL=loud",
        MOCK_LEVELS,
    ),
    "python -m respq.mockapi port": ("python -m respq.mockapi", "MOCKAPI_PORT=eighty", "integer"),
}
PROGRAMS = {"python": sys.executable, "arq": str(BIN / "arq"), "respq": str(RESPQ)}


@pytest.mark.parametrize(
    ("command", "setting", "allowed"), list(PROCESSES.values()), ids=list(PROCESSES)
)
def test_a_bad_setting_stops_the_process_with_one_line(
    tmp_path: Path, command: str, setting: str, allowed: str
) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_bytes(b'{"model": "gpt-5.4", "input": "hi"}\n')
    program, *args = shlex.split(command.replace("{batch}", str(batch)))
    name, value = setting.split("=", 1)
    # Nothing listens on port 1: a command that got past its settings would fail differently.
    env = clean_env(RESPQ_REDIS_URL="redis://127.0.0.1:1/0", **{name: value})
    done = subprocess.run(
        [PROGRAMS[program], *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{name}={value!r}" in lines[0] and allowed in lines[0], lines[0]

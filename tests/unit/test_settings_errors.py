"""Settings: a bad value stops a worker, the CLI or the mock API with one line naming the
variable and what it allows (no pydantic traceback); RESPQ_AUTH_HEADER is case-insensitive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.settings import SettingsError
from producer.models_check import ModelCheckSettings
from producer.settings import ClientSettings
from worker import WorkerConfig

from helpers.paths import ROOT

RESPQ = Path(sys.executable).parent / "respq"
ARQ = Path(sys.executable).parent / "arq"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPQ_", "MOCKAPI_"))}
    # Nothing listens here: a command that got past its settings would fail differently.
    env["RESPQ_REDIS_URL"] = "redis://127.0.0.1:1/0"
    env.update(extra)
    return env


@pytest.mark.parametrize("value", ["X-API-KEY", "X-Api-Key", " x-api-key "])
def test_auth_header_is_case_insensitive(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert WorkerConfig(auth_header=value).auth_header == "x-api-key"
    monkeypatch.setenv("RESPQ_AUTH_HEADER", value)
    assert WorkerConfig().auth_header == "x-api-key"
    assert ModelCheckSettings().auth_header == "x-api-key"
    monkeypatch.setenv("RESPQ_AUTH_HEADER", "Authorization")
    assert WorkerConfig().auth_header == "authorization"


def test_log_level_is_case_insensitive_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPQ_LOG_LEVEL", "debug")
    assert WorkerConfig().log_level == "DEBUG"
    monkeypatch.setenv("RESPQ_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as caught:
        WorkerConfig()
    assert str(caught.value).startswith("bad setting RESPQ_LOG_LEVEL='LOUD': ")
    assert "'DEBUG'" in str(caught.value) and "'CRITICAL'" in str(caught.value)


def test_settings_error_names_every_bad_variable_but_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESPQ_CHUNK_SIZE", "0")
    monkeypatch.setenv("RESPQ_RESULT_TTL", "soon")
    with pytest.raises(SettingsError) as caught:
        ClientSettings()
    message = str(caught.value)
    assert "\n" not in message
    assert "RESPQ_CHUNK_SIZE='0': Input should be greater than or equal to 1" in message
    assert "RESPQ_RESULT_TTL='soon': Input should be a valid integer" in message
    monkeypatch.delenv("RESPQ_CHUNK_SIZE")
    monkeypatch.delenv("RESPQ_RESULT_TTL")
    monkeypatch.setenv("RESPQ_API_KEY", "sk-SECRET-in-a-bad-place")
    monkeypatch.setenv("RESPQ_AUTH_HEADER", "bearer")
    with pytest.raises(SettingsError) as caught:
        WorkerConfig()
    assert "RESPQ_AUTH_HEADER='bearer': Input should be 'authorization' or 'x-api-key'" in str(
        caught.value
    )
    assert "SECRET" not in str(caught.value)


def test_a_bad_keyword_argument_stays_a_validation_error() -> None:
    # Only values from the environment are the operator's to fix; a bad argument in code
    # keeps pydantic's error for the programmer.
    with pytest.raises(ValidationError) as caught:
        ClientSettings(chunk_size=0)
    assert not isinstance(caught.value, SettingsError)


PROCESSES = [
    pytest.param(
        [sys.executable, "-m", "worker"],
        {"RESPQ_LOG_LEVEL": "LOUD"},
        "RESPQ_LOG_LEVEL='LOUD'",
        "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'",
        id="python -m worker",
    ),
    pytest.param(
        [str(ARQ), "worker.WorkerSettings"],
        {"RESPQ_MAX_JOBS": "0"},
        "RESPQ_MAX_JOBS='0'",
        "greater than or equal to 1",
        id="arq worker.WorkerSettings",
    ),
    pytest.param(
        [sys.executable, "-m", "worker"],
        {"RESPQ_LIMIT_ALGORITHM": "fast"},
        "RESPQ_LIMIT_ALGORITHM='fast'",
        "'gcra' or 'window'",
        id="worker limit algorithm",
    ),
    pytest.param(
        [str(RESPQ), "list"],
        {"RESPQ_CHUNK_SIZE": "many"},
        "RESPQ_CHUNK_SIZE='many'",
        "valid integer",
        id="respq list",
    ),
    pytest.param(
        [str(RESPQ), "submit", "{batch}"],
        {"RESPQ_MAX_REQUEST_BYTES": "12"},
        "RESPQ_MAX_REQUEST_BYTES='12'",
        "greater than or equal to 1024",
        id="respq submit",
    ),
    pytest.param(
        [str(RESPQ), "submit", "--check-models", "{batch}"],
        {"RESPQ_AUTH_HEADER": "bearer"},
        "RESPQ_AUTH_HEADER='bearer'",
        "'authorization' or 'x-api-key'",
        id="respq submit --check-models",
    ),
    pytest.param(
        [str(RESPQ), "mock-upstream"],
        {"MOCKAPI_FAIL_RATE": "2"},
        "MOCKAPI_FAIL_RATE='2'",
        "within 0..1",
        id="respq mock-upstream",
    ),
    pytest.param(
        [sys.executable, "-m", "mockapi"],
        {"MOCKAPI_LOG_LEVEL": "loud"},
        "MOCKAPI_LOG_LEVEL='loud'",
        "critical, error, warning, info, debug, trace",
        id="python -m mockapi log level",
    ),
    pytest.param(
        [sys.executable, "-m", "mockapi"],
        {"MOCKAPI_PORT": "eighty"},
        "MOCKAPI_PORT='eighty'",
        "integer",
        id="python -m mockapi port",
    ),
]


@pytest.mark.parametrize(("args", "env", "names", "allowed"), PROCESSES)
def test_a_bad_setting_stops_the_process_with_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], names: str, allowed: str
) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_bytes(b'{"model": "gpt-5.4", "input": "hi"}\n')
    command = [arg.replace("{batch}", str(batch)) for arg in args]
    done = subprocess.run(
        command,
        env=clean_env(**env),
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
    assert names in lines[0] and allowed in lines[0], lines[0]

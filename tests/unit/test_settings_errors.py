"""Settings: a bad value is a SettingsError naming every bad variable and what it allows,
never a secret; RESPQ_AUTH_HEADER and log levels are case-insensitive."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from respq.contract.errors import SettingsError
from respq.producer.models_check import ModelCheckSettings
from respq.producer.settings import ClientSettings
from respq.worker import WorkerConfig


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


@pytest.mark.parametrize("value", ["0", "-1", "soon", "3601"])
def test_redis_timeout_is_checked_for_the_cli_and_the_workers(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPQ_REDIS_TIMEOUT", "2.5")
    assert ClientSettings().redis_timeout == WorkerConfig().redis_timeout == 2.5
    monkeypatch.setenv("RESPQ_REDIS_TIMEOUT", value)
    for settings in (ClientSettings, WorkerConfig):
        with pytest.raises(SettingsError, match=f"^bad setting RESPQ_REDIS_TIMEOUT='{value}': "):
            settings()

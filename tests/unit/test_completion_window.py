"""The completion window has one rule wherever it is given: OpenAI's ``24h``, or respq's
longer windows of whole hours or days up to 30 days; ``inf``, ``0``, ``1`` and the like are
refused before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient
from respq.contract.errors import InvalidOption, SettingsError
from respq.producer.settings import ClientSettings, parse_window

from helpers.cli import invoke
from helpers.factories import write_jsonl

REFUSED = [
    "inf",
    "Infinity",
    "nan",
    "0",
    "1",
    "86400",
    "0h",
    "1h",
    "23h",
    "90m",
    "3600s",
    "31d",
    "721h",
    "-24h",
    "1e3h",
    "24.0h",
    "24H",
    " 24h",
    "24h\n",
    "\u0662\u0664h",  # Arabic-Indic digits: int() reads them, the rule does not
]


@pytest.mark.parametrize(
    ("text", "seconds", "beyond"),
    [
        ("24h", 86400, "23h"),
        ("48h", 172800, "47m"),
        ("1d", 86400, "0d"),
        ("7d", 604800, "7.5d"),
        ("30d", 2592000, "31d"),
        ("720h", 2592000, "721h"),
    ],
)
def test_openai_window_and_longer_whole_hours_or_days_up_to_30d_are_the_rule(
    text: str, seconds: int, beyond: str
) -> None:
    assert parse_window(text) == seconds
    assert ClientSettings(completion_window=text).completion_window == text
    with pytest.raises(InvalidOption):
        parse_window(beyond)


@pytest.mark.parametrize("text", REFUSED)
def test_anything_else_is_an_invalid_option(text: str) -> None:
    with pytest.raises(InvalidOption, match="24h"):
        parse_window(text)


@pytest.mark.parametrize("text", ["inf", "0", "1", "2s"])
async def test_python_submit_refuses_the_window_before_creating_anything(
    fake_client: BatchClient, fake_redis: FakeRedis, text: str
) -> None:
    with pytest.raises(InvalidOption, match="completion_window"):
        await fake_client.submit([{"model": "m", "input": "x"}], completion_window=text)
    assert await fake_redis.keys("*") == []


@pytest.mark.parametrize("text", ["inf", "1", "90m"])
def test_cli_flag_follows_the_same_rule(tmp_path: Path, text: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 1)
    refused = invoke(
        ["--redis-url", "redis://127.0.0.1:1/0", "submit", str(path), "--completion-window", text]
    )
    assert refused.exit_code == 2
    assert "--completion-window" in refused.output and "24h" in refused.output


def test_a_bad_default_window_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPQ_COMPLETION_WINDOW", "inf")
    with pytest.raises(SettingsError) as caught:
        ClientSettings()
    message = str(caught.value)
    assert message.startswith("bad setting RESPQ_COMPLETION_WINDOW='inf': ")
    assert "\n" not in message

"""Limits configuration: per-model overrides and scopes."""

from __future__ import annotations

import pytest

from respq.worker import WorkerConfig
from respq.worker.limiter import Limits
from respq.worker.limits_config import ModelLimit, limits_for, parse_model_limits, scope_for


def test_parse_json_and_dict() -> None:
    raw = '{"gpt-5.4": {"rpm": 500, "tpm": 200000}, "small": {"burst": 0.1}}'
    parsed = parse_model_limits(raw)
    assert parsed == {
        "gpt-5.4": ModelLimit(rpm=500, tpm=200_000),
        "small": ModelLimit(burst=0.1),
    }
    assert parse_model_limits({"m": {"tpm": 0}}) == {"m": ModelLimit(tpm=0)}
    assert parse_model_limits("") == {}
    assert parse_model_limits("  ") == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "RESPQ_MODEL_LIMITS is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"gpt-5.4": 500}', r"RESPQ_MODEL_LIMITS\['gpt-5.4'\] must be an object"),
        ('{"gpt-5.4": {"rpm": -1}}', r"RESPQ_MODEL_LIMITS\['gpt-5.4'\]: rpm: .*greater than"),
        ('{"gpt-5.4": {"tpm": "many"}}', r"RESPQ_MODEL_LIMITS\['gpt-5.4'\]: tpm"),
        ('{"gpt-5.4": {"rpm": 1.5}}', r"\['gpt-5.4'\]: rpm"),
        ('{"m": {"rmp": 5}}', r"RESPQ_MODEL_LIMITS\['m'\]: rmp: Extra inputs"),
        ('{"m": {"burst": -0.5}}', r"\['m'\]: burst"),
    ],
)
def test_parse_errors_name_model_and_field(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_model_limits(raw)


def test_limits_for_falls_back_to_globals() -> None:
    overrides = parse_model_limits({"big": {"rpm": 500, "tpm": 200_000}, "b": {"burst": 0.5}})
    default = Limits(60, 10_000, 0.0, 0.02, "window")
    assert limits_for("big", default, overrides) == Limits(500, 200_000, 0.0, 0.02, "window")
    assert limits_for("b", default, overrides) == Limits(60, 10_000, 0.5, 0.02, "window")
    assert limits_for("other", default, overrides) is default
    config = WorkerConfig(
        rpm=60, tpm=10_000, burst=0.25, limit_margin=0.02, limit_algorithm="window"
    )
    assert config.limits() == Limits(60, 10_000, 0.25, 0.02, "window")


def test_scope_for() -> None:
    assert scope_for("https://API.example.com/v1/", "gpt-5.4") == scope_for(
        "https://api.example.com/v1", "gpt-5.4"
    )
    assert scope_for("https://api.example.com/v1", "a") != scope_for(
        "https://api.example.com/v1", "b"
    )
    assert scope_for("https://api.example.com/V1", "a") == "https://api.example.com/V1|a"

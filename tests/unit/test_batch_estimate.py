"""An estimate before sending (``respq estimate FILE``, ``BatchClient.estimate``) with
Redis down: requests, input tokens by the workers' own estimator, the output cap and, with
a price table, the cost range per model; bad lines refused as submit refuses them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from respq import BatchClient, InvalidInput
from respq.contract.endpoints import RESPONSES
from respq.contract.prices import PriceTable

from helpers.cli import invoke
from helpers.factories import BAD_LINES
from helpers.paths import EXAMPLES

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
PRICES = PriceTable.from_mapping(
    {"gpt-5.4": {"input": 1.25, "cached_input": 0.125, "output": 10.0}}
)
ITEMS = [
    {"model": "gpt-5.4", "input": "a" * 400, "max_output_tokens": 100},
    {"model": "gpt-5.4", "instructions": "Be brief.", "input": "b" * 40},
    {"custom_id": "x", "body": {"model": "o4-mini", "input": "Hi", "max_output_tokens": 7}},
]


def test_estimate_counts_tokens_and_prices_a_range_without_redis() -> None:
    client = BatchClient.from_url(NOWHERE, default_max_output_tokens=1000)
    estimate = client.estimate(ITEMS, prices=PRICES)
    assert (estimate.requests, set(estimate.by_model)) == (3, {"gpt-5.4", "o4-mini"})
    gpt = estimate.by_model["gpt-5.4"]
    expected_input = RESPONSES.input_tokens(ITEMS[0]) + RESPONSES.input_tokens(ITEMS[1])
    assert (gpt.requests, gpt.input_tokens, gpt.max_output_tokens) == (2, expected_input, 1100)
    assert gpt.cost_low == pytest.approx(expected_input * 1.25 / 1e6)
    assert gpt.cost_high == pytest.approx((expected_input * 1.25 + 1100 * 10.0) / 1e6)
    assert estimate.by_model["o4-mini"].max_output_tokens == 7
    assert estimate.by_model["o4-mini"].cost_low is None
    assert estimate.unpriced_models == ["o4-mini"]
    assert estimate.cost_high == gpt.cost_high  # only priced models add up
    assert estimate.max_output_tokens == 1107


def test_estimate_validates_as_submit_does() -> None:
    client = BatchClient.from_url(NOWHERE)
    with pytest.raises(InvalidInput):
        client.estimate([{"model": "gpt-5.4", "input": "x", "temperature": 3}])


def test_respq_estimate_runs_with_redis_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(item) for item in ITEMS) + b"\n")
    prices = tmp_path / "prices.json"
    prices.write_bytes(orjson.dumps({"gpt-5.4": {"input": 1.25, "output": 10.0}}))
    env = {
        "RESPQ_REDIS_URL": NOWHERE,
        "RESPQ_PRICES": str(prices),
        "RESPQ_DEFAULT_MAX_OUTPUT_TOKENS": "1000",
    }
    shown = invoke(["estimate", str(path)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "gpt-5.4" in shown.stdout and "o4-mini" in shown.stdout and "no price" in shown.stdout
    as_json = invoke(["estimate", str(path), "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    data = orjson.loads(as_json.stdout)
    monkeypatch.setenv("RESPQ_DEFAULT_MAX_OUTPUT_TOKENS", "1000")
    expected = BatchClient.from_url(NOWHERE).estimate(ITEMS, prices=PriceTable.load(str(prices)))
    assert data == expected.model_dump(mode="json")


def test_respq_estimate_refuses_a_bad_file_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    result = invoke(["estimate", str(path)], env={"RESPQ_REDIS_URL": NOWHERE})
    assert result.exit_code == 2
    assert "line 1:" in result.stderr and "Traceback" not in result.stderr


def test_respq_estimate_adds_up_in_the_validation_pass_parsing_no_body_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The estimate rides the pass that validates: reading the spool back and parsing each
    # body again (Estimator.add) made it 1.1-1.7x the time of validating alone.
    def parsed_again(*_: object) -> None:
        raise AssertionError("a body was parsed a second time")

    monkeypatch.setattr("respq.producer.estimate.Estimator.add", parsed_again)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(item) for item in ITEMS) + b"\n")
    env = {"RESPQ_REDIS_URL": NOWHERE, "RESPQ_DEFAULT_MAX_OUTPUT_TOKENS": "1000"}
    as_json = invoke(["estimate", str(path), "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    monkeypatch.undo()
    monkeypatch.setenv("RESPQ_DEFAULT_MAX_OUTPUT_TOKENS", "1000")
    expected = BatchClient.from_url(NOWHERE).estimate(ITEMS)
    assert orjson.loads(as_json.stdout) == expected.model_dump(mode="json")


def test_respq_estimate_of_images_names_requests_without_a_model_the_providers_default() -> None:
    shown = invoke(["estimate", str(EXAMPLES / "images.jsonl")], env={"RESPQ_REDIS_URL": NOWHERE})
    assert shown.exit_code == 0, shown.output
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    # image-3 names no model; its auto quality and size count as high at 1536x1024: 6,240.
    assert "6,240" in rows["(provider's default)"]
    assert "gpt-image-1.5" in rows and "" not in rows

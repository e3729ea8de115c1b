"""The price table: loading (TOML, JSON, env), the cost formula, clear errors, and the
cost of a batch (``Batch.cost``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from respq import BatchClient
from respq.contract.errors import PriceTableError
from respq.contract.prices import PriceTable
from respq.producer.batch_info import UsageTotals
from respq.producer.costs import batch_cost

from helpers.paths import ROOT


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_table_loads() -> None:
    table = PriceTable.load(ROOT / "examples" / "prices.toml")
    assert {"gpt-5.4", "gpt-5.4-mini", "gpt-4.1", "o4-mini"} <= set(table.prices)


def test_cost_formula_counts_cached_inside_input() -> None:
    table = PriceTable.from_mapping({"m": {"input": 2.0, "cached_input": 0.5, "output": 8.0}})
    usage = UsageTotals(input_tokens=1_000_000, cached_tokens=400_000, output_tokens=250_000)
    # 600k uncached * $2 + 400k cached * $0.5 + 250k * $8, per million
    assert table.cost("m", usage) == pytest.approx(1.2 + 0.2 + 2.0)
    assert table.cost("other", usage) is None


def test_cached_input_defaults_to_input(tmp_path: Path) -> None:
    path = write(tmp_path, "p.toml", '["gpt-x"]\ninput = 1.0\noutput = 3.0\n')
    price = PriceTable.load(path).price("gpt-x")
    assert price is not None and price.cached_input == 1.0


def test_json_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", '{"models": {"a": {"input": 1, "output": 2}}}')
    assert PriceTable.from_env({"RESPQ_PRICES": str(path)}) is not None
    assert PriceTable.from_env({"RESPQ_PRICES": ""}) is None
    assert PriceTable.from_env({}) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[models."m"]\noutput = 1\n', ["'m'", "missing", "'input'"]),
        ('[models."m"]\ninput = -1\noutput = 1\n', ["'m'", "'input'", ">= 0"]),
        ('[models."m"]\ninput = "cheap"\noutput = 1\n', ["'m'", "'input'", "number"]),
        ('[models."m"]\ninput = 1\noutput = 1\noutptu = 2\n', ["'m'", "'outptu'"]),
        ("[models\n", ["not valid TOML"]),
        ("", ["no models"]),
    ],
)
def test_bad_tables_name_file_model_field(tmp_path: Path, text: str, words: list[str]) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(PriceTableError) as info:
        PriceTable.load(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_an_embedding_model_is_priced_per_input_token(tmp_path: Path) -> None:
    path = write(tmp_path, "p.toml", '[models."text-embedding-3-small"]\ninput = 0.02\n')
    table = PriceTable.load(path)
    usage = UsageTotals(input_tokens=2_000_000, total_tokens=2_000_000)
    assert table.cost("text-embedding-3-small", usage) == pytest.approx(0.04)


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot read price table"):
        PriceTable.load(tmp_path / "nope.toml")


async def test_batch_cost_by_model_and_unpriced(
    fake_client: BatchClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    batch = await fake_client.submit(
        [{"model": "a", "input": "x"}, {"model": "b", "input": "y"}], max_cost=2.5
    )
    await fake_client.redis.hset(  # type: ignore[misc]
        batch.keys.meta,
        mapping={
            "model:a:requests": 1,
            "model:a:input_tokens": 1_000_000,
            "model:a:output_tokens": 500_000,
            "model:b:requests": 1,
            "model:b:input_tokens": 10,
            "cost_spent": "0.75",
        },
    )
    table = PriceTable.from_mapping({"a": {"input": 1.0, "output": 2.0}})
    cost = await batch.cost(table)
    assert cost.total == pytest.approx(2.0)
    assert cost.by_model == {"a": pytest.approx(2.0)}
    assert cost.unpriced_models == ["b"]
    assert cost.currency == "USD"
    assert (cost.max_cost, cost.spent, cost.reserved) == (2.5, 0.75, 0.0)
    # prices default from RESPQ_PRICES; without a table the total is unknown
    monkeypatch.delenv("RESPQ_PRICES", raising=False)
    assert (await batch.cost()).total is None
    path = write(tmp_path, "p.toml", '["a"]\ninput = 1.0\noutput = 2.0\n')
    monkeypatch.setenv("RESPQ_PRICES", str(path))
    assert (await batch.cost()).total == pytest.approx(2.0)
    assert batch_cost(await batch.status(), None).unpriced_models == ["a", "b"]


async def test_max_cost_must_be_positive(fake_client: BatchClient) -> None:
    with pytest.raises(ValueError, match="max_cost"):
        await fake_client.submit([{"model": "a", "input": "x"}], max_cost=0)

"""A price table (USD per million tokens, per model) and what a batch has cost.

The table is a TOML or JSON file named by ``RESPQ_PRICES`` (see ``examples/prices.toml``)::

    [models."gpt-5.4"]
    input = 1.25          # USD per 1M input tokens that were not cached
    cached_input = 0.125  # USD per 1M cached input tokens (default: the input price)
    output = 10.0         # USD per 1M output tokens (reasoning tokens included)

    [models."text-embedding-3-small"]
    input = 0.02          # a model that produces no tokens (embeddings) needs only input

The models may also be top-level tables (``["gpt-5.4"]``). In the Responses usage, cached
tokens are part of ``input_tokens`` and reasoning tokens part of ``output_tokens``, so::

    cost = ((input - cached) * input_price + cached * cached_price + output * output_price) / 1e6
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from respq.contract.errors import PriceTableError

PRICES_ENV = "RESPQ_PRICES"
CURRENCY = "USD"
PER_TOKENS = 1_000_000
_FIELDS = ("input", "cached_input", "output")


class TokenCounts(Protocol):
    """Anything with the Responses usage counts (``Usage``, ``UsageTotals``)."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...


class ModelPrice(BaseModel):
    """USD per million tokens for one model."""

    model_config = ConfigDict(frozen=True)

    input: float = Field(ge=0)
    cached_input: float = Field(ge=0)
    output: float = Field(ge=0)

    def cost(self, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
        cached = min(max(cached_tokens, 0), max(input_tokens, 0))
        uncached = max(input_tokens, 0) - cached
        return (
            uncached * self.input + cached * self.cached_input + max(output_tokens, 0) * self.output
        ) / PER_TOKENS


def _number(source: str, model: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceTableError(
            f"{source}: model {model!r} field {field!r} must be a number "
            f"(USD per million tokens), got {value!r}"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise PriceTableError(
            f"{source}: model {model!r} field {field!r} must be a finite number >= 0, got {value!r}"
        )
    return number


def _model_price(source: str, model: str, entry: Any) -> ModelPrice:
    if not isinstance(entry, Mapping):
        raise PriceTableError(
            f"{source}: model {model!r} must be a table with input (and cached_input, output)"
        )
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise PriceTableError(
            f"{source}: model {model!r} has unknown field(s) {', '.join(map(repr, unknown))} "
            f"(expected input, cached_input, output)"
        )
    if "input" not in entry:
        raise PriceTableError(f"{source}: model {model!r} is missing field 'input'")
    price_in = _number(source, model, "input", entry["input"])
    cached = entry.get("cached_input", price_in)
    return ModelPrice(
        input=price_in,
        cached_input=_number(source, model, "cached_input", cached),
        # Embedding models produce no output tokens: their price is the input's alone.
        output=_number(source, model, "output", entry.get("output", 0.0)),
    )


class PriceTable:
    """Prices per model; ``cost`` is None for a model the table does not name."""

    def __init__(self, prices: Mapping[str, ModelPrice], *, source: str = "<memory>") -> None:
        self.prices: dict[str, ModelPrice] = dict(prices)
        self.source = source

    def __repr__(self) -> str:
        return f"PriceTable({self.source!r}, {len(self.prices)} models)"

    def __contains__(self, model: object) -> bool:
        return model in self.prices

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<memory>") -> PriceTable:
        """From ``{"models": {name: {...}}}`` or ``{name: {...}}``."""
        if not isinstance(data, Mapping):
            raise PriceTableError(f"{source}: expected a table of models")
        models = data.get("models", data)
        if not isinstance(models, Mapping):
            raise PriceTableError(f"{source}: 'models' must be a table of models")
        extra = [k for k in data if k not in ("models", "currency")] if "models" in data else []
        if extra:
            raise PriceTableError(f"{source}: unknown top-level key(s) {', '.join(extra)}")
        currency = data.get("currency", CURRENCY)
        if currency != CURRENCY:
            raise PriceTableError(f"{source}: currency must be {CURRENCY}, got {currency!r}")
        prices = {
            str(name): _model_price(source, str(name), entry)
            for name, entry in models.items()
            if name != "currency"
        }
        if not prices:
            raise PriceTableError(f"{source}: no models priced")
        return cls(prices, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PriceTable:
        """Read a ``.toml`` or ``.json`` file (other names are tried as TOML, then JSON)."""
        file = Path(path)
        source = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceTableError(f"cannot read price table {source}: {exc.strerror}") from None
        suffix = file.suffix.lower()
        data: Any
        if suffix == ".json":
            data = _json(source, text)
        elif suffix == ".toml":
            data = _toml(source, text)
        else:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                data = _json(source, text)
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PriceTable | None:
        """The table named by ``RESPQ_PRICES``; None when it is unset or empty."""
        path = (os.environ if environ is None else environ).get(PRICES_ENV, "").strip()
        return cls.load(path) if path else None

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(model)

    def cost(self, model: str, usage: TokenCounts) -> float | None:
        """USD for ``usage`` of ``model``; None when the model has no price."""
        price = self.prices.get(model)
        if price is None:
            return None
        return price.cost(usage.input_tokens, usage.cached_tokens, usage.output_tokens)


def _json(source: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"{source}: not valid JSON: {exc}") from None


def _toml(source: str, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceTableError(f"{source}: not valid TOML: {exc}") from None


__all__ = [
    "PRICES_ENV",
    "ModelPrice",
    "PriceTable",
    "PriceTableError",
    "TokenCounts",
]

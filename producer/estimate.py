"""What a batch will ask for before it is sent, without touching Redis: its requests, the
input-token estimate (the batch endpoint's, ``contract/endpoints.py``: the workers' own
estimator), the output-token cap (each request's output cap, ``max_output_tokens`` or its
endpoint's field, else ``RESPQ_DEFAULT_MAX_OUTPUT_TOKENS``; none for embeddings and
moderations) and, with a price table, the cost range per model.

The range's low end is the input alone at the input price (no cache hits, no output); its
high end adds every request's whole output cap at the output price. The input estimate is
a heuristic (about 4 ASCII characters a token); real usage differs by tens of percent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel, Field

from respq.contract.endpoints import DEFAULT_ENDPOINT, Endpoint
from respq.contract.prices import CURRENCY, PriceTable
from respq.producer.validation import PreparedRequest


class ModelEstimate(BaseModel):
    """One model's share of a batch."""

    requests: int = 0
    input_tokens: int = 0
    max_output_tokens: int = 0
    # USD; None without a price for the model.
    cost_low: float | None = None
    cost_high: float | None = None


class BatchEstimate(BaseModel):
    """A batch before it is sent; the costs are None without a price table, and leave out
    models the table has no price for (``unpriced_models``)."""

    requests: int = 0
    input_tokens: int = 0
    max_output_tokens: int = 0
    by_model: dict[str, ModelEstimate] = Field(default_factory=dict)
    currency: str = CURRENCY
    cost_low: float | None = None
    cost_high: float | None = None
    unpriced_models: list[str] = Field(default_factory=list)


def shown_model(model: str) -> str:
    """A model as an estimate shows it: requests that name none (moderations and images
    may leave it to the provider) are the provider's default's."""
    return model or "(provider's default)"


class Estimator:
    """Adds up prepared (validated) requests as they stream by."""

    def __init__(
        self, *, default_max_output_tokens: int, endpoint: Endpoint = DEFAULT_ENDPOINT
    ) -> None:
        self.default_max_output_tokens = default_max_output_tokens
        self.endpoint = endpoint
        # model -> [requests, input tokens, output cap]: plain ints in the per-line loop
        self._sums: dict[str, list[int]] = {}

    def add(self, item: PreparedRequest) -> None:
        self.add_body(self.endpoint, item.model, orjson.loads(item.body))

    def add_body(self, endpoint: Endpoint, model: str, body: dict[str, Any]) -> None:
        """One validated request's parsed body (``ItemPreparer.on_valid`` calls this)."""
        sums = self._sums.get(model)
        if sums is None:
            sums = self._sums[model] = [0, 0, 0]
        sums[0] += 1
        sums[1] += endpoint.input_tokens(body)
        sums[2] += endpoint.output_tokens(
            body, default_max_output_tokens=self.default_max_output_tokens
        )

    def result(self, prices: PriceTable | None = None) -> BatchEstimate:
        estimate = BatchEstimate()
        for model, (requests, input_tokens, max_output) in sorted(self._sums.items()):
            share = ModelEstimate(
                requests=requests, input_tokens=input_tokens, max_output_tokens=max_output
            )
            estimate.by_model[model] = share
            estimate.requests += requests
            estimate.input_tokens += input_tokens
            estimate.max_output_tokens += max_output
            price = prices.price(model) if prices is not None else None
            if price is None:
                if prices is not None:
                    estimate.unpriced_models.append(model)
                continue
            share.cost_low = price.cost(input_tokens, 0, 0)
            share.cost_high = price.cost(input_tokens, 0, max_output)
            estimate.cost_low = (estimate.cost_low or 0.0) + share.cost_low
            estimate.cost_high = (estimate.cost_high or 0.0) + share.cost_high
        return estimate


def estimate_prepared(
    items: Iterable[PreparedRequest],
    *,
    default_max_output_tokens: int,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    prices: PriceTable | None = None,
) -> BatchEstimate:
    estimator = Estimator(default_max_output_tokens=default_max_output_tokens, endpoint=endpoint)
    for item in items:
        estimator.add(item)
    return estimator.result(prices)


__all__ = ["BatchEstimate", "Estimator", "ModelEstimate", "estimate_prepared", "shown_model"]

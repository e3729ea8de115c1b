"""What a batch cost so far, per model, from its usage totals and a price table."""

from __future__ import annotations

from pydantic import BaseModel, Field

from respq.contract.prices import CURRENCY, PriceTable
from respq.producer.batch_info import BatchInfo


class BatchCost(BaseModel):
    """What a batch cost so far: priced from its usage totals, plus its budget state."""

    total: float | None = None
    by_model: dict[str, float] = Field(default_factory=dict)
    currency: str = CURRENCY
    unpriced_models: list[str] = Field(default_factory=list)
    max_cost: float | None = None
    spent: float | None = None
    reserved: float | None = None


def batch_cost(info: BatchInfo, prices: PriceTable | None) -> BatchCost:
    """Price ``info``'s usage per model. ``total`` is None without a price table.

    ``spent``/``reserved`` are the workers' budget bookkeeping (only for batches with a
    ``max_cost``)."""
    by_model: dict[str, float] = {}
    unpriced: list[str] = []
    for model, usage in sorted(info.usage_by_model.items()):
        cost = prices.cost(model, usage) if prices is not None else None
        if cost is None:
            if usage.input_tokens or usage.output_tokens:
                unpriced.append(model)
        else:
            by_model[model] = round(cost, 9)
    total = round(sum(by_model.values()), 9) if prices is not None else None
    budget = info.max_cost is not None
    return BatchCost(
        total=total,
        by_model=by_model,
        unpriced_models=unpriced,
        max_cost=info.max_cost,
        spent=round(info.cost_spent, 9) if budget else None,
        reserved=round(max(info.cost_reserved, 0.0), 9) if budget else None,
    )


__all__ = ["BatchCost", "batch_cost"]

"""Per-batch budgets (``max_cost``, USD): reserve a request's estimated cost before it is
sent, settle it to the actual cost after, pause the batch instead of overspending.

One Lua call on the batch's meta hash each way (``contract/lua/budget.lua``), so every
worker process shares one ledger: ``cost_spent`` (settled) and ``cost_reserved`` (in
flight). A request is sent only if ``spent + reserved + estimate <= max_cost``; otherwise
the batch is paused (``respq resume`` continues it) and the request is handed to a later
job. The estimate prices the input estimate at the input price and the endpoint's output
cap (``max_output_tokens``, chat's ``max_completion_tokens`` … or the default; nothing for
embeddings and moderations) at the output price, so spending never passes ``max_cost``
unless the answers use more than estimated.

Workers without a price table (``RESPQ_PRICES``) do none of this. With one, a batch
without ``max_cost`` costs one HMGET-sized call per worker every ``NO_BUDGET_CACHE_S``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from respq.contract.constants import BatchKeys
from respq.contract.endpoints import DEFAULT_ENDPOINT, Endpoint
from respq.contract.prices import PriceTable
from respq.contract.response import Usage
from respq.contract.scripts import ScriptSet
from respq.worker.retry import DeferRequest

log = logging.getLogger("respq.worker")

# A paused batch's request is handed to a job that runs after this long; while the batch
# stays paused that job is deferred again by the claim (tasks.PAUSED_RECHECK_S).
PAUSED_RECHECK_S = 5.0
# How long a worker remembers that a batch has no budget.
NO_BUDGET_CACHE_S = 10.0


def estimate_cost(
    prices: PriceTable,
    model: str,
    body: Mapping[str, Any],
    *,
    default_max_output_tokens: int,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
) -> float | None:
    """USD one request may cost at most (roughly); None when the model has no price."""
    price = prices.price(model)
    if price is None:
        return None
    out = endpoint.output_tokens(body, default_max_output_tokens=default_max_output_tokens)
    return price.cost(endpoint.input_tokens(body), 0, out)


class Hold:
    """One request's reservation; ``spent(usage)`` records the actual cost, leaving the
    block settles it (to 0 when the request failed or was not sent)."""

    __slots__ = ("_actual", "_budget", "batch_id", "estimate", "model")

    def __init__(self, budget: Budget | None, batch_id: str, model: str, estimate: float) -> None:
        self._budget = budget
        self.batch_id = batch_id
        self.model = model
        self.estimate = estimate
        self._actual = 0.0

    @property
    def active(self) -> bool:
        return self._budget is not None

    def spent(self, usage: Usage | None) -> None:
        budget = self._budget
        if budget is None or usage is None or budget.prices is None:
            return
        self._actual = budget.prices.cost(self.model, usage) or 0.0

    async def __aenter__(self) -> Hold:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        budget = self._budget
        if budget is not None:
            self._budget = None
            await budget.settle(self.batch_id, self.estimate, self._actual)


class Budget:
    """The budget check of one worker process (disabled without a price table)."""

    def __init__(
        self,
        redis: Redis | None,
        prices: PriceTable | None,
        *,
        default_max_output_tokens: int = 4096,
        recheck_s: float | None = None,
        cache_s: float = NO_BUDGET_CACHE_S,
    ) -> None:
        self.prices = prices if redis is not None else None
        self.redis = redis
        self.default_max_output_tokens = default_max_output_tokens
        self.recheck_s = PAUSED_RECHECK_S if recheck_s is None else recheck_s
        self.cache_s = cache_s
        self._no_budget: dict[str, float] = {}
        self._scripts = ScriptSet(redis, ["budget"]) if redis is not None else None

    @classmethod
    def disabled(cls) -> Budget:
        return cls(None, None)

    @property
    def enabled(self) -> bool:
        return self.prices is not None

    async def hold(
        self,
        batch_id: str,
        model: str,
        body: Mapping[str, Any],
        endpoint: Endpoint = DEFAULT_ENDPOINT,
    ) -> Hold:
        """Reserve the request's estimated cost; DeferRequest when the batch is (now)
        paused. Use the result as ``async with``."""
        prices = self.prices
        if prices is None or self._scripts is None:
            return Hold(None, batch_id, model, 0.0)
        now = time.monotonic()
        until = self._no_budget.get(batch_id)
        if until is not None:
            if until > now:
                return Hold(None, batch_id, model, 0.0)
            del self._no_budget[batch_id]
        estimate = estimate_cost(
            prices,
            model,
            body,
            default_max_output_tokens=self.default_max_output_tokens,
            endpoint=endpoint,
        )
        if estimate is None:
            estimate = 0.0  # unpriced: still stopped by a paused or spent budget
        answer = await self._scripts["budget"](
            batch=BatchKeys(batch_id),
            op="reserve",
            estimate=repr(estimate),
            actual=0,
            now=int(time.time()),
        )
        mode = _text(answer[0])
        if mode == "none":
            if len(self._no_budget) > 10_000:
                self._no_budget.clear()
            self._no_budget[batch_id] = now + self.cache_s
            return Hold(None, batch_id, model, 0.0)
        if mode == "paused":
            reason = _text(answer[1]) if len(answer) > 1 else "paused"
            log.info(
                "batch %s paused: %s",
                batch_id,
                reason,
                extra={"batch_id": batch_id, "code": "budget_paused"},
            )
            raise DeferRequest(self.recheck_s)
        return Hold(self, batch_id, model, estimate)

    async def settle(self, batch_id: str, estimate: float, actual: float) -> None:
        if self._scripts is None:
            return
        try:
            await self._scripts["budget"](
                batch=BatchKeys(batch_id),
                op="settle",
                estimate=repr(estimate),
                actual=repr(actual),
                now=int(time.time()),
            )
        except RedisError as exc:  # the ledger stays conservative: the reservation remains
            log.warning(
                "budget settle failed for batch %s: %s",
                batch_id,
                exc,
                extra={"batch_id": batch_id},
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["PAUSED_RECHECK_S", "Budget", "Hold", "estimate_cost"]

"""Batch: the handle on one submitted batch — follow it, collect its results, cancel,
retry, resume, price it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from respq.contract.constants import (
    ARQ_JOB_PREFIX,
    BatchKeys,
    paused_key,
    schedule_keys,
)
from respq.contract.errors import BatchNotFound, BatchStateError, BatchTimeout, InvalidOption
from respq.contract.ids import new_token
from respq.contract.lines import OutputLine
from respq.contract.prices import PriceTable
from respq.contract.status import TERMINAL_STATUSES
from respq.contract.stored import unpack
from respq.contract.webhooks import new_event_id
from respq.producer.batch_info import BatchInfo
from respq.producer.costs import BatchCost, batch_cost

if TYPE_CHECKING:
    from respq.producer.client import BatchClient

# Custom ids per script call when a batch is walked in input order.
PAGE = 1000


class Batch:
    """A handle on one submitted batch."""

    def __init__(self, client: BatchClient, batch_id: str) -> None:
        self.client = client
        self.id = batch_id
        self.keys = BatchKeys(batch_id)

    def __repr__(self) -> str:
        return f"Batch({self.id!r})"

    async def status(self) -> BatchInfo:
        """Counts, usage totals (batch and per model) and errors by code."""
        redis = self.client.redis
        async with self.client.errors():
            pipe = redis.pipeline(transaction=False)
            pipe.hgetall(self.keys.meta)
            pipe.hlen(self.keys.inflight)
            meta, inflight = await pipe.execute()
        if not meta:
            raise BatchNotFound(self.id)
        return BatchInfo.from_meta(meta, in_flight=int(inflight))

    async def wait(self, timeout: float | None = None, poll_interval: float = 0.25) -> BatchInfo:
        """Poll until the batch reaches a terminal status; TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = await self.status()
            if info.status in TERMINAL_STATUSES:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise BatchTimeout(
                    f"batch {self.id} still {info.status} after {timeout}s "
                    f"({info.done}/{info.request_counts.total} done)"
                )
            await asyncio.sleep(poll_interval)

    async def result_lines(self) -> AsyncIterator[bytes]:
        """Output lines (JSON bytes, as the worker built them), in input order; only finished
        requests."""
        redis = self.client.redis
        start = 0
        while True:
            async with self.client.errors():
                cids = await redis.lrange(self.keys.order, start, start + PAGE - 1)  # type: ignore[misc]
                if not cids:
                    return
                lines = await redis.hmget(self.keys.res, cids)  # type: ignore[misc]
            for line in lines:
                if line is not None:
                    yield unpack(line)
            start += PAGE

    async def results(self) -> AsyncIterator[OutputLine]:
        """Output lines in input order (what has finished so far)."""
        async for raw in self.result_lines():
            yield OutputLine.model_validate_json(raw)

    async def cancel(self) -> BatchInfo:
        """Queued requests end as ``batch_cancelled``; in-flight ones finish."""
        settings = self.client.settings
        id_token = new_token()
        start = 0
        async with self.client.errors():
            while True:
                scanned = int(
                    await self.client.scripts["cancel"](
                        batch=self.keys,
                        start=start,
                        count=PAGE,
                        now=int(time.time()),
                        finished_ttl=settings.result_ttl,
                        id_token=id_token,
                        event_id=new_event_id(),
                    )
                )
                if scanned == -1:
                    raise BatchNotFound(self.id)
                if scanned == -2:
                    if start == 0:
                        raise BatchStateError(f"batch {self.id} has already ended")
                    break  # the pages so far ended its last requests
                if scanned == 0:
                    break
                start += scanned
        return await self.status()

    async def retry(self, codes: Iterable[str] | None = None) -> int:
        """Re-enqueue failed requests (only those with ``codes`` when given); returns how
        many. Successes are left alone; counts and usage stay exact."""
        settings = self.client.settings
        wanted = "," + ",".join(codes) + "," if codes else ""
        id_token = new_token()
        total = 0
        start = 0
        async with self.client.errors():
            if not await self.client.redis.exists(self.keys.meta):
                raise BatchNotFound(self.id)
            length = await self.client.redis.llen(self.keys.order)  # type: ignore[misc]
            while start < length:
                total += int(
                    await self.client.scripts["retry"](
                        batch=self.keys,
                        queue=settings.queue_name,
                        start=start,
                        count=PAGE,
                        codes=wanted,
                        id_token=id_token,
                        chunk_size=settings.chunk_size,
                        now_ms=int(time.time() * 1000),
                        result_ttl=settings.result_ttl,
                        arq_job_prefix=ARQ_JOB_PREFIX,
                    )
                )
                start += PAGE
        return total

    async def cost(self, prices: PriceTable | None = None) -> BatchCost:
        """What the batch cost so far, per model, priced by ``prices`` (default: the
        table named by ``RESPQ_PRICES``; without one ``total`` is None)."""
        table = prices if prices is not None else PriceTable.from_env()
        return batch_cost(await self.status(), table)

    async def resume(self, max_cost: float | None = None) -> BatchInfo:
        """Resume a paused batch, optionally raising ``max_cost`` (USD) first; the jobs
        its workers parked while it was paused are queued again. BatchStateError when it
        is not paused (unless only the budget is being changed on a running batch)."""
        if max_cost is not None and not max_cost > 0:
            raise InvalidOption(f"max_cost must be a positive number of USD, got {max_cost!r}")
        settings = self.client.settings
        now = time.time()
        async with self.client.errors():
            schedule, urgent_schedule = schedule_keys(settings.queue_name)
            answer = await self.client.scripts["resume"](
                batch=self.keys,
                queue=settings.queue_name,
                paused=paused_key(settings.queue_name),
                schedule=schedule,
                urgent_schedule=urgent_schedule,
                max_cost="" if max_cost is None else repr(float(max_cost)),
                now=int(now),
                arq_job_prefix=ARQ_JOB_PREFIX,
                now_ms=int(now * 1000),
                result_ttl=settings.result_ttl,
            )
        code = answer.decode() if isinstance(answer, bytes) else str(answer)
        if code == "missing":
            raise BatchNotFound(self.id)
        if code.startswith("state:"):
            raise BatchStateError(f"batch {self.id} is {code[6:]}, not paused")
        return await self.status()

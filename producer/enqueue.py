"""The bulk write of one submit: validated requests into the batch in pipelined script calls,
and the removal of a new batch whose enqueue stopped before it was sealed.

Each wait on Redis is bounded by RESPQ_REDIS_TIMEOUT (a send and each reply), so a round
trip must never grow with the batch: a script call holds at most SLICE requests (fewer once
it carries SLICE_BYTES) and a round trip at most SLICES_PER_ROUND_TRIP calls (fewer once it
carries ROUND_TRIP_BYTES). A batch of any size is then many round trips of a few MiB, each
far inside the timeout, instead of one send that a short timeout would cut.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from respq.contract.constants import BATCHES_KEY, UNSEALED_KEY, BatchKeys
from respq.producer.validation import PreparedRequest

if TYPE_CHECKING:
    from respq.producer.client import BatchClient

# Requests per enqueue script call, and script calls per pipeline round trip: large
# enough to amortise round trips, small enough that no single script blocks Redis long.
SLICE: Final = 256
SLICES_PER_ROUND_TRIP: Final = 16
# Byte bounds on the same: one send stays a few MiB whatever the requests weigh (a 20 MiB
# request still goes whole, alone).
SLICE_BYTES: Final = 1 << 20
ROUND_TRIP_BYTES: Final = 8 << 20


@dataclass
class Enqueue:
    """One submit's requests going into batch ``batch_id``: jobs numbered under
    ``<batch_id>:<submit_no>:``, at most ``job_size`` requests per job."""

    client: BatchClient
    batch_id: str
    submit_no: int
    job_size: int
    now_ms: int
    chunk_no: int = 0
    # The first request's model: the Batch object's ``model`` (OpenAI's batches have one).
    first_model: str = ""

    async def run(self, prepared: AsyncIterable[PreparedRequest]) -> None:
        pipe = self.client.redis.pipeline(transaction=False)
        calls = queued_bytes = 0
        # A slice ends on a job boundary, so cutting it by bytes leaves every job full.
        boundary = min(self.job_size, SLICE)
        chunk: list[PreparedRequest] = []
        chunk_bytes = 0
        async for item in prepared:
            self.first_model = self.first_model or item.model
            chunk.append(item)
            chunk_bytes += len(item.body) + len(item.custom_id)
            full = chunk_bytes >= SLICE_BYTES and len(chunk) % boundary == 0
            if len(chunk) < SLICE and not full:
                continue
            await self._add(pipe, chunk)
            calls += 1
            queued_bytes += chunk_bytes
            chunk, chunk_bytes = [], 0
            if calls >= SLICES_PER_ROUND_TRIP or queued_bytes >= ROUND_TRIP_BYTES:
                await pipe.execute()
                calls = queued_bytes = 0
        if chunk:
            await self._add(pipe, chunk)
        await pipe.execute()

    async def _add(self, pipe: Any, chunk: list[PreparedRequest]) -> None:
        keys = BatchKeys(self.batch_id)
        requests: list[Any] = []
        for item in chunk:
            requests += (item.custom_id, item.body, item.depends_on or "")
        await self.client.scripts["enqueue"](
            batch=keys,
            submit_no=self.submit_no,
            chunk_no=self.chunk_no,
            chunk_size=self.job_size,
            now_ms=self.now_ms,
            requests=requests,
            client=pipe,
        )
        self.chunk_no += len(chunk) // self.job_size + 1


async def discard_unsealed(client: BatchClient, keys: BatchKeys) -> bool:
    """Delete a batch that was created but never sealed: its jobs wait in its own list and
    were never dispatched, so no worker has seen it. True once nothing of it is left; a
    sealed batch is left alone (False).

    UNLINK and ZREM are allowed to a Redis over its maxmemory (they free memory), so a
    submit stopped by OOM still leaves nothing behind; not in a transaction, where Redis
    refuses to queue any command while over maxmemory. UNLINK frees a big batch in the
    background instead of blocking Redis (and this call's timeout) while it does."""
    redis = client.redis
    async with client.errors():
        sealed = await redis.hget(keys.meta, "sealed")  # type: ignore[misc]
        if sealed is None:  # never created: the record is the create script's first write
            return True
        if sealed not in (b"0", "0"):
            return False
        pipe = redis.pipeline(transaction=False)
        pipe.unlink(*keys.all())
        pipe.zrem(BATCHES_KEY, keys.batch_id)
        pipe.srem(UNSEALED_KEY, keys.batch_id)
        await pipe.execute()
    return True

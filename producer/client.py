"""BatchClient: submit batches of requests (one endpoint a batch: Responses, chat
completions, embeddings, completions or moderations), then follow and collect them."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Self

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from contract.constants import (
    BATCHES_KEY,
    BatchKeys,
    schedule_keys,
)
from contract.endpoints import DEFAULT_ENDPOINT, Endpoint, endpoint_named
from contract.redis_conn import connect, redact_url
from contract.scripts import ScriptSet
from producer.batch import DAY_S, Batch
from producer.batch_info import BatchInfo
from producer.errors import (
    BatchNotFound,
    BatchStateError,
    InvalidOption,
    RedisUnavailable,
)
from producer.scheduling import Priority, Scheduling
from producer.settings import ClientSettings, parse_window
from producer.validation import PreparedRequest, gc_paused, prepare_batch

# Requests per enqueue script call, and script calls per pipeline round trip: large
# enough to amortise round trips, small enough that no single script blocks Redis long.
PRODUCER_SCRIPTS = ["create", "enqueue", "seal", "cancel", "retry", "resume"]
SLICE = 256
SLICES_PER_ROUND_TRIP = 16


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


@asynccontextmanager
async def _redis_errors(url: str) -> AsyncIterator[None]:
    """Turn connection failures into RedisUnavailable naming the (redacted) URL."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise RedisUnavailable(redact_url(url), exc) from exc


class BatchClient:
    """The producer side of respq.

    >>> async with BatchClient.from_url("redis://localhost:6379/0") as client:
    ...     batch = await client.submit([ResponsesRequest(model="gpt-5.4", input="Hi")])
    ...     await batch.wait(timeout=600)
    """

    def __init__(self, redis: Redis, settings: ClientSettings | None = None) -> None:
        self.redis = redis
        self.settings = settings or ClientSettings()
        self.scripts = ScriptSet(redis, "producer", PRODUCER_SCRIPTS)

    @classmethod
    def from_url(cls, url: str | None = None, **overrides: Any) -> BatchClient:
        """A client for ``url`` (default ``RESPQ_REDIS_URL``); other settings from overrides
        or the environment."""
        values: dict[str, Any] = {**overrides, **({"redis_url": url} if url else {})}
        settings = ClientSettings(**values)
        return cls(connect(settings.redis_url), settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.redis.aclose()

    def errors(self) -> Any:
        return _redis_errors(self.settings.redis_url)

    async def ping(self) -> None:
        """Raise RedisUnavailable unless Redis answers."""
        async with self.errors():
            await self.redis.ping()

    # -- submit ---------------------------------------------------------------

    async def submit(
        self,
        items: Iterable[Any],
        *,
        batch_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        completion_window: str | None = None,
        max_cost: float | None = None,
        check_models: bool = False,
        priority: Priority = 0,
        max_in_flight: int | None = None,
        endpoint: str | None = None,
    ) -> Batch:
        """Validate every item, then enqueue them all as one batch.

        Items may be typed requests (``ResponsesRequest``, ``ChatCompletionRequest``,
        ``EmbeddingRequest``, ``CompletionRequest``, ``ModerationRequest``), request-body
        dicts, or input lines (``{"custom_id", "method", "url", "body"}`` dicts or
        ``InputLine`` objects). A batch has one endpoint: ``endpoint`` (e.g.
        ``"/v1/embeddings"``) when given, else the one the first item names (a line's url,
        a typed request), else ``/v1/responses``; bare body dicts are of the batch's
        endpoint, and an item of another endpoint is invalid. One ``InvalidInput`` error
        lists every bad item, and then nothing is enqueued. Submitting again with the same
        ``batch_id`` enqueues only custom_ids the batch does not have yet.

        ``max_cost`` (USD) is the batch's budget: workers with a price table
        (``RESPQ_PRICES``) pause it before it would spend more. ``check_models`` first
        asks ``GET {RESPQ_BASE_URL}/models`` and refuses unknown models (InvalidInput).

        ``priority`` sets the batch's share of the workers against other batches: weight
        ``2 ** priority`` (-10..10), or ``"urgent"`` to go before every other batch;
        ``max_in_flight`` caps its requests in flight across all workers (see
        ``producer.scheduling``).
        """
        scheduling = Scheduling.of(priority, max_in_flight)
        required = endpoint_named(endpoint) if endpoint is not None else None
        with gc_paused():
            return await self._submit(
                items,
                batch_id,
                metadata,
                completion_window,
                max_cost,
                check_models,
                scheduling,
                required,
            )

    async def _submit(
        self,
        items: Iterable[Any],
        batch_id: str | None,
        metadata: dict[str, Any] | None,
        completion_window: str | None,
        max_cost: float | None,
        check_models: bool,
        scheduling: Scheduling,
        required: Endpoint | None,
    ) -> Batch:
        endpoint, prepared = prepare_batch(
            items, max_request_bytes=self.settings.max_request_bytes, endpoint=required
        )
        if check_models:
            from producer.models_check import ModelUses
            from producer.models_check import check_models as check

            uses = ModelUses()
            for n, item in enumerate(prepared):
                uses.add(item.model, f"item {n}", item.custom_id)
            await check(uses)
        return await self.submit_prepared(
            _aiter(prepared),
            batch_id=batch_id,
            metadata=metadata,
            completion_window=completion_window,
            max_cost=max_cost,
            scheduling=scheduling,
            endpoint=endpoint,
        )

    async def submit_prepared(
        self,
        prepared: AsyncIterable[PreparedRequest],
        *,
        batch_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        completion_window: str | None = None,
        max_cost: float | None = None,
        scheduling: Scheduling | None = None,
        endpoint: Endpoint | None = None,
    ) -> Batch:
        """Enqueue already-validated requests of ``endpoint`` (default: Responses); the
        CLI streams a file through this."""
        scheduling = scheduling or Scheduling()
        if max_cost is not None and not max_cost > 0:
            raise InvalidOption(f"max_cost must be a positive number of USD, got {max_cost!r}")
        batch_id = batch_id or new_batch_id()
        window_text = completion_window or self.settings.completion_window
        window = parse_window(window_text)
        now = time.time()
        keys = BatchKeys(batch_id)
        settings = self.settings
        running_ttl = window + settings.result_ttl if window else settings.result_ttl + DAY_S
        job_ttl_ms = running_ttl * 1000
        async with self.errors():
            submit_no = await self.create_record(
                batch_id,
                metadata=metadata,
                completion_window=window_text,
                scheduling=scheduling,
                endpoint=endpoint,
            )
            if max_cost is not None:  # before any job is queued, so no request escapes it
                await self.redis.hset(keys.meta, "max_cost", repr(float(max_cost)))  # type: ignore[misc]
            prefix = f"{batch_id}:{int(submit_no)}:"
            chunk_no = 0
            pipe = self.redis.pipeline(transaction=False)
            queued_slices = 0
            batch: list[PreparedRequest] = []
            # A job never carries more requests than the batch may have in flight.
            job_size = min(settings.chunk_size, scheduling.max_in_flight or settings.chunk_size)

            async def add_slice(chunk: list[PreparedRequest]) -> None:
                nonlocal chunk_no
                requests: list[Any] = []
                for item in chunk:
                    requests += (item.custom_id, item.body, item.depends_on or "")
                await self.scripts["enqueue"](
                    meta=keys.meta,
                    req=keys.req,
                    order=keys.order,
                    jobs=keys.jobs,
                    parent=keys.parent,
                    children=keys.children,
                    batch_id=batch_id,
                    job_prefix=prefix,
                    chunk_no=chunk_no,
                    chunk_size=job_size,
                    now_ms=int(now * 1000),
                    requests=requests,
                    client=pipe,
                )
                chunk_no += len(chunk) // job_size + 1

            async for item in prepared:
                batch.append(item)
                if len(batch) >= SLICE:
                    await add_slice(batch)
                    batch = []
                    queued_slices += 1
                    if queued_slices >= SLICES_PER_ROUND_TRIP:
                        await pipe.execute()
                        queued_slices = 0
            if batch:
                await add_slice(batch)
            await pipe.execute()
            schedule, urgent_schedule = schedule_keys(settings.queue_name)
            await self.scripts["seal"](
                meta=keys.meta,
                jobs=keys.jobs,
                schedule=schedule,
                urgent_schedule=urgent_schedule,
                batch_keys=keys.all(),
                now=int(time.time()),
                running_ttl=running_ttl,
                finished_ttl=settings.result_ttl,
                job_ttl_ms=job_ttl_ms,
                batch_id=batch_id,
            )
        return Batch(self, batch_id)

    # -- look up --------------------------------------------------------------

    async def get(self, batch_id: str) -> Batch:
        """The batch with this id; BatchNotFound when there is none."""
        async with self.errors():
            if not await self.redis.exists(BatchKeys(batch_id).meta):
                raise BatchNotFound(batch_id)
        return Batch(self, batch_id)

    async def create_record(
        self,
        batch_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        completion_window: str | None = None,
        scheduling: Scheduling | None = None,
        endpoint: Endpoint | None = None,
    ) -> int:
        """The batch's record, in ``validating``, unless it exists; returns how many
        submits the batch has seen, this one included (job ids are unique per submit).
        ``respq serve`` calls this before it reads an uploaded file. A batch that exists
        keeps its endpoint: requests of another are refused (BatchStateError)."""
        endpoint = endpoint or DEFAULT_ENDPOINT
        window_text = completion_window or self.settings.completion_window
        window = parse_window(window_text)
        now = time.time()
        settings = self.settings
        async with self.errors():
            weight, urgent, max_in_flight = (scheduling or Scheduling()).meta_args()
            _, submit_no, _, has = await self.scripts["create"](
                meta=BatchKeys(batch_id).meta,
                batches=BATCHES_KEY,
                batch_id=batch_id,
                now=int(now),
                metadata=orjson.dumps(metadata or {}),
                window=window_text,
                expires_at=int(now + window) if window else 0,
                queue=settings.queue_name,
                chunk_size=settings.chunk_size,
                weight=weight,
                urgent=urgent,
                max_in_flight=max_in_flight,
                endpoint=endpoint.url,
            )
        existing = endpoint_named(_text(has))
        if existing is not endpoint:
            raise BatchStateError(
                f"batch {batch_id!r} targets {existing.url}; these requests are for "
                f"{endpoint.url}, and a batch has one endpoint"
            )
        return int(submit_no)

    async def shares(self, queue_name: str | None = None) -> dict[str, str]:
        """Each scheduled batch's share of dispatch on ``queue_name`` (default: this
        client's queue), by weight among the batches with jobs waiting: "50%", or
        "urgent" for the urgent class, which goes first."""
        normal, urgent = schedule_keys(queue_name or self.settings.queue_name)
        async with self.errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrange(normal, 0, -1)
            pipe.zrange(urgent, 0, -1)
            waiting, first = await pipe.execute()
            names = [_text(b) for b in waiting]
            pipe = self.redis.pipeline(transaction=False)
            for name in names:
                pipe.hget(BatchKeys(name).meta, "weight")
            weights = [float(w or 1) for w in await pipe.execute()]
        total = sum(weights) or 1.0
        out = {name: f"{w / total:.0%}" for name, w in zip(names, weights, strict=True)}
        out.update({_text(b): "urgent" for b in first})
        return out

    async def list_batches(self, limit: int = 100) -> list[BatchInfo]:
        """The newest batches first."""
        async with self.errors():
            ids = await self.redis.zrevrange(BATCHES_KEY, 0, limit - 1)
            pipe = self.redis.pipeline(transaction=False)
            for raw in ids:
                keys = BatchKeys(raw.decode())
                pipe.hgetall(keys.meta)
                pipe.hlen(keys.inflight)
            answers = await pipe.execute()
        infos: list[BatchInfo] = []
        gone: list[bytes] = []
        for raw_id, meta, inflight in zip(ids, answers[::2], answers[1::2], strict=True):
            if meta:
                infos.append(BatchInfo.from_meta(meta, in_flight=int(inflight)))
            else:
                gone.append(raw_id)
        if gone:  # expired batches leave their index entry behind; tidy it
            async with self.errors():
                await self.redis.zrem(BATCHES_KEY, *gone)
        return infos


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _aiter(items: Iterable[PreparedRequest]) -> AsyncIterator[PreparedRequest]:
    for item in items:
        yield item


__all__ = ["BatchClient", "new_batch_id"]

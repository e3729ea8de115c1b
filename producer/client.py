"""BatchClient: submit batches of requests (one endpoint a batch: Responses, chat
completions, embeddings, completions or moderations), then follow and collect them."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Self

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from respq.contract.constants import (
    BATCHES_KEY,
    WEBHOOK_URL_FIELD,
    BatchKeys,
    schedule_keys,
    tenant_batches_key,
)
from respq.contract.endpoints import DEFAULT_ENDPOINT, Endpoint, endpoint_named
from respq.contract.errors import BatchNotFound, BatchStateError, InvalidOption, RedisFailure
from respq.contract.prices import PriceTable
from respq.contract.redis_conn import connect, redact_url
from respq.contract.scripts import ScriptSet
from respq.contract.webhook_targets import check_webhook
from respq.contract.webhooks import new_event_id
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.enqueue import Enqueue, discard_unsealed
from respq.producer.estimate import BatchEstimate, estimate_prepared
from respq.producer.redis_failures import redis_failure
from respq.producer.scheduling import Priority, Scheduling, dispatch_shares
from respq.producer.settings import ClientSettings, parse_window
from respq.producer.submission import Submission
from respq.producer.validation import PreparedRequest, gc_paused, prepare_batch

PRODUCER_SCRIPTS = ["create", "enqueue", "seal", "cancel", "retry", "resume", "end_unsealed"]


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


@asynccontextmanager
async def _redis_errors(url: str, timeout: float | None) -> AsyncIterator[None]:
    """Turn what Redis (or the way to it) fails with into one RedisFailure subclass per
    cause, naming the (redacted) URL and the setting to change."""
    try:
        yield
    except (RedisError, OSError) as exc:
        failure = redis_failure(exc, redact_url(url), timeout)
        if failure is None:
            raise
        raise failure from exc


class BatchClient:
    """The producer side of respq.

    >>> async with BatchClient.from_url("redis://localhost:6379/0") as client:
    ...     batch = await client.submit([ResponsesRequest(model="gpt-5.4", input="Hi")])
    ...     await batch.wait(timeout=600)
    """

    def __init__(self, redis: Redis, settings: ClientSettings | None = None) -> None:
        self.redis = redis
        self.settings = settings or ClientSettings()
        self.scripts = ScriptSet(redis, PRODUCER_SCRIPTS)

    @classmethod
    def from_url(cls, url: str | None = None, **overrides: Any) -> BatchClient:
        """A client for ``url`` (default ``RESPQ_REDIS_URL``); other settings from overrides
        or the environment."""
        values: dict[str, Any] = {**overrides, **({"redis_url": url} if url else {})}
        settings = ClientSettings(**values)
        return cls(connect(settings.redis_url, timeout=settings.redis_timeout), settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.redis.aclose()

    def errors(self) -> Any:
        return _redis_errors(self.settings.redis_url, self.settings.redis_timeout)

    async def ping(self) -> None:
        """Raise a RedisFailure (RedisUnavailable, RedisNotResponding...) unless Redis
        answers."""
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
        webhook: str | None = None,
        endpoint: str | None = None,
    ) -> Batch:
        """Validate every item, then enqueue them all as one batch.

        Items may be typed requests (``ResponsesRequest``, ``ChatCompletionRequest``,
        ``EmbeddingRequest``, ``CompletionRequest``, ``ModerationRequest``,
        ``ImageGenerationRequest``, ``ImageEditRequest``), request-body
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
        ``respq.producer.scheduling``).

        ``webhook`` is the URL that gets the batch's signed ``batch.*`` event when it ends,
        instead of the server-wide ``RESPQ_WEBHOOK_URL`` (see ``respq.contract.webhooks``);
        WebhookTargetError when it is malformed or on a non-public address.
        """
        submission = Submission(
            batch_id=batch_id,
            metadata=metadata,
            completion_window=completion_window,
            max_cost=max_cost,
            scheduling=Scheduling.of(priority, max_in_flight),
            webhook=webhook,
            endpoint=endpoint_named(endpoint) if endpoint is not None else None,
        )
        with gc_paused():
            return await self._submit(items, submission, check_models)

    async def _submit(
        self, items: Iterable[Any], submission: Submission, check_models: bool
    ) -> Batch:
        if submission.webhook is not None:  # before validation: a refused URL costs nothing
            submission = replace(submission, webhook=await self.check_webhook(submission.webhook))
        endpoint, prepared = prepare_batch(
            items, max_request_bytes=self.settings.max_request_bytes, endpoint=submission.endpoint
        )
        if check_models:
            from respq.producer.models_check import ModelUses
            from respq.producer.models_check import check_models as check

            uses = ModelUses()
            for n, item in enumerate(prepared):
                uses.add(item.model, f"item {n}", item.custom_id)
            await check(uses)
        return await self.submit_prepared(_aiter(prepared), replace(submission, endpoint=endpoint))

    def estimate(self, items: Iterable[Any], *, prices: PriceTable | None = None) -> BatchEstimate:
        """What ``submit(items)`` would ask for, without touching Redis: requests, the
        input-token estimate, the output-token cap and, with ``prices`` (default: the
        table ``RESPQ_PRICES`` names), the cost range per model. Items are validated as
        ``submit`` validates them (InvalidInput lists every bad one)."""
        endpoint, prepared = prepare_batch(items, max_request_bytes=self.settings.max_request_bytes)
        return estimate_prepared(
            prepared,
            endpoint=endpoint,
            default_max_output_tokens=self.settings.default_max_output_tokens,
            prices=prices if prices is not None else PriceTable.from_env(),
        )

    async def check_webhook(self, url: str) -> str:
        """The URL, once it is one the workers will call (WebhookTargetError if not)."""
        return await check_webhook(url, allow_private=self.settings.webhook_allow_private)

    async def submit_prepared(
        self, prepared: AsyncIterable[PreparedRequest], submission: Submission | None = None
    ) -> Batch:
        """Enqueue already-validated requests as ``submission`` says (default: a new batch
        of Responses requests); the CLI and the Batch API stream a file through this.

        A new batch joins the schedule only once all of them are in (sealed). If enqueueing
        stops before that (Redis out of memory, read-only or lost, the caller cancelled), the
        unsealed batch is removed whole, as no worker ever saw it, and a RedisFailure says
        so, or says that it could not be. A batch that existed before (a ``batch_id`` of an
        earlier submit) keeps what it had; the same submit again adds the rest."""
        submission = submission or Submission()
        max_cost = submission.max_cost
        if max_cost is not None and not max_cost > 0:
            raise InvalidOption(f"max_cost must be a positive number of USD, got {max_cost!r}")
        window_text = submission.completion_window or self.settings.completion_window
        parse_window(window_text)  # a bad window creates nothing
        keys = BatchKeys(submission.batch_id or new_batch_id())
        async with self.errors():
            existed = bool(await self.redis.exists(keys.meta))
        try:
            await self._enqueue(prepared, keys, submission, window_text)
        except BaseException as exc:
            if not existed:
                await self._discard(keys, exc)
            raise
        return Batch(self, keys.batch_id)

    async def _enqueue(
        self,
        prepared: AsyncIterable[PreparedRequest],
        keys: BatchKeys,
        submission: Submission,
        window_text: str,
    ) -> None:
        settings = self.settings
        batch_id = keys.batch_id
        scheduling = submission.scheduling
        now = time.time()
        async with self.errors():
            submit_no = await self.create_record(
                batch_id,
                metadata=submission.metadata,
                completion_window=window_text,
                scheduling=scheduling,
                endpoint=submission.endpoint,
            )
            if submission.max_cost is not None:  # before any job is queued: none escapes it
                max_cost = repr(float(submission.max_cost))
                await self.redis.hset(keys.meta, "max_cost", max_cost)  # type: ignore[misc]
            if submission.webhook:  # before the seal, which may end the batch and write its event
                await self.redis.hset(keys.meta, WEBHOOK_URL_FIELD, submission.webhook)  # type: ignore[misc]
            # A job never carries more requests than the batch may have in flight.
            job_size = min(settings.chunk_size, scheduling.max_in_flight or settings.chunk_size)
            enqueue = Enqueue(self, batch_id, int(submit_no), job_size, int(now * 1000))
            await enqueue.run(prepared)
            if enqueue.first_model:  # the Batch object's model (NX: a resubmit's is kept)
                await self.redis.hsetnx(keys.meta, "model", enqueue.first_model)  # type: ignore[misc]
        await self.seal(batch_id, window_text)

    async def seal(self, batch_id: str, completion_window: str) -> None:
        """Mark a batch as having all its requests: it leaves ``respq:unsealed``, joins the
        schedule, and ends at once when every request already has a result (a batch
        cancelled before it was sealed ends ``cancelled`` here)."""
        keys = BatchKeys(batch_id)
        settings = self.settings
        running_ttl = parse_window(completion_window) + settings.result_ttl
        schedule, urgent_schedule = schedule_keys(settings.queue_name)
        async with self.errors():
            await self.scripts["seal"](
                batch=keys,
                schedule=schedule,
                urgent_schedule=urgent_schedule,
                now=int(time.time()),
                running_ttl=running_ttl,
                finished_ttl=settings.result_ttl,
                job_ttl_ms=running_ttl * 1000,
                event_id=new_event_id(),
            )

    async def _discard(self, keys: BatchKeys, exc: BaseException) -> None:
        """Remove the new batch a failed submit leaves unsealed, and say what became of it
        in ``exc``'s message when it is a RedisFailure (else in a note on it)."""
        batch_id = keys.batch_id
        try:
            removed = await discard_unsealed(self, keys)
        except RedisFailure as failed:
            outcome = (
                f"batch {batch_id} was never sealed, so no worker will run it, but what was "
                f"enqueued of it could not be removed ({failed.summary}): cancel it, or "
                f"submit the same requests again with batch id {batch_id} to finish it"
            )
        else:
            outcome = (
                f"nothing of batch {batch_id} was kept (it was never sealed)"
                if removed
                else f"batch {batch_id} was sealed before the failure: it runs"
            )
        if isinstance(exc, RedisFailure):
            exc.add_outcome(outcome)
        else:
            exc.add_note(outcome)

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
        tenant: str | None = None,
        endpoint: Endpoint | None = None,
    ) -> int:
        """The batch's record, in ``validating`` and in ``respq:unsealed``, unless it
        exists; returns how many submits the batch has seen, this one included (job ids
        are unique per submit). ``respq serve`` calls this before it reads an uploaded
        file, with the ``tenant`` that owns the batch. A batch that exists keeps its
        endpoint: requests of another are refused (BatchStateError)."""
        endpoint = endpoint or DEFAULT_ENDPOINT
        window_text = completion_window or self.settings.completion_window
        window = parse_window(window_text)
        now = time.time()
        settings = self.settings
        async with self.errors():
            weight, urgent, max_in_flight = (scheduling or Scheduling()).meta_args()
            _, submit_no, _, has = await self.scripts["create"](
                batch=BatchKeys(batch_id),
                tenant_batches=tenant_batches_key(tenant) if tenant else BATCHES_KEY,
                now=int(now),
                metadata=orjson.dumps(metadata or {}),
                window=window_text,
                expires_at=int(now + window),
                queue=settings.queue_name,
                chunk_size=settings.chunk_size,
                weight=weight,
                urgent=urgent,
                max_in_flight=max_in_flight,
                tenant=tenant or "",
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
        client's queue): ``respq.producer.scheduling.dispatch_shares``."""
        async with self.errors():
            return await dispatch_shares(self.redis, queue_name or self.settings.queue_name)

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

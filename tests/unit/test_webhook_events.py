"""Every way a batch ends writes its webhook event in the same script (fakeredis): the
record script's completion, cancel, expiry at claim time, the server pipeline's failed
validation and its cancel while validating. One event per ending, none without one, and
none when nobody would receive it: the batch names no receiver and no worker announced a
server-wide one (``respq:webhook-receiver``)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.constants import WEBHOOK_RECEIVER_KEY, WEBHOOKS_KEY
from respq.contract.errors import BatchStateError
from respq.contract.status import TERMINAL_STATUSES
from respq.contract.webhooks import WebhookSettings
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.ending import end_unsealed
from respq.server.pipeline import fail
from respq.worker import WorkerConfig
from respq.worker.webhooks import WebhookDeliverer

from helpers.factories import response_body
from helpers.workers import build_worker, dispatch_all, run_burst

# Each test starts with a worker's announced receiver; those about its absence remove it.
pytestmark = pytest.mark.usefixtures("receiver")

ITEMS = [{"model": "gpt-5.4", "input": f"q{i}"} for i in range(6)]


@pytest.fixture
async def receiver(fake_redis: FakeRedis) -> None:
    """A worker with RESPQ_WEBHOOK_URL has announced it."""
    await fake_redis.set(WEBHOOK_RECEIVER_KEY, "1")


async def due_members(redis: FakeRedis) -> list[str]:
    return [m.decode() for m in await redis.zrange(WEBHOOKS_KEY, 0, -1)]


async def one_event(redis: FakeRedis, batch: Batch, event_type: str) -> BatchInfo:
    """The batch has exactly one event, of ``event_type``, pending and due for delivery."""
    info = await batch.status()
    assert [d.type for d in info.webhook_deliveries] == [event_type]
    (event,) = info.webhook_deliveries
    assert event.event_id.startswith("evt_") and event.state == "pending"
    assert event.created_at >= int(time.time()) - 60
    assert f"{event.event_id}:{batch.id}" in await due_members(redis)
    shape = info.openai_shape()
    assert shape["respq_webhook_deliveries"][0]["type"] == event_type
    return info


async def test_completion_by_the_record_script_writes_batch_completed(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A receiver that is never due during the test: the event stays pending for the check.
    monkeypatch.setenv("RESPQ_WEBHOOK_URL", "http://receiver.test/hook")
    monkeypatch.setenv("RESPQ_WEBHOOK_RETRY_BASE", "3600")
    batch = await fake_client.submit(ITEMS)
    assert (await batch.status()).webhook_deliveries == []
    config = WorkerConfig(base_url="http://upstream.test/v1", queue_name=queue_name)
    upstream = httpx.MockTransport(lambda _: httpx.Response(200, json=response_body()))
    worker = build_worker(config, redis_pool=fake_redis, transport=upstream)
    await run_burst(worker)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert [d.type for d in info.webhook_deliveries] == ["batch.completed"]
    (event,) = info.webhook_deliveries
    assert f"{event.event_id}:{batch.id}" in await due_members(fake_redis)


async def test_cancel_writes_batch_cancelled_once(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    batch = await fake_client.submit(ITEMS)
    await batch.cancel()
    await one_event(fake_redis, batch, "batch.cancelled")
    with pytest.raises(BatchStateError):
        await batch.cancel()
    assert len((await batch.status()).webhook_deliveries) == 1
    assert len(await due_members(fake_redis)) == 1


async def test_expiry_at_claim_time_writes_batch_expired(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    from respq.worker.store import WorkerStore

    batch = await fake_client.submit(ITEMS)
    await fake_redis.hset(batch.keys.meta, "expires_at", int(time.time()) - 5)
    store = WorkerStore(fake_redis, queue_name=queue_name, result_ttl=600, chunk_size=4)
    for job_id in await dispatch_all(fake_redis, queue_name):
        record: dict[str, Any] = orjson.loads(await fake_redis.get(f"arq:job:{job_id}"))
        await store.claim(batch.id, job_id, record["a"][1], lease_ms=30_000)
    info = await one_event(fake_redis, batch, "batch.expired")
    assert info.status is BatchStatus.EXPIRED


async def test_failed_validation_in_the_server_pipeline_writes_batch_failed(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    await fake_client.create_record("batch_bad_file")
    errors = {"object": "list", "data": [{"code": "invalid_json", "line": 1, "message": "x"}]}
    await fail(fake_client, "batch_bad_file", errors)
    batch = Batch(fake_client, "batch_bad_file")
    info = await one_event(fake_redis, batch, "batch.failed")
    assert info.status is BatchStatus.FAILED and info.failed_at is not None
    assert info.errors == errors


async def test_cancel_while_validating_writes_batch_cancelled(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    await fake_client.create_record("batch_cancelled_early")
    batch = Batch(fake_client, "batch_cancelled_early")
    await batch.cancel()  # cancelling: nothing enqueued yet, the pipeline closes it
    assert (await batch.status()).webhook_deliveries == []
    assert await end_unsealed(fake_client, batch.id, BatchStatus.CANCELLED)
    info = await one_event(fake_redis, batch, "batch.cancelled")
    assert info.status is BatchStatus.CANCELLED


async def test_a_sealed_or_ended_batch_is_not_ended_again(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    running = await fake_client.submit(ITEMS)
    assert not await end_unsealed(fake_client, running.id, BatchStatus.FAILED, {"data": []})
    assert (await running.status()).status is BatchStatus.IN_PROGRESS
    await fake_client.create_record("batch_twice")
    assert await end_unsealed(fake_client, "batch_twice", BatchStatus.FAILED, {"data": []})
    assert not await end_unsealed(fake_client, "batch_twice", BatchStatus.CANCELLED)
    info = await Batch(fake_client, "batch_twice").status()
    assert info.status is BatchStatus.FAILED
    assert len(info.webhook_deliveries) == 1
    assert len(await due_members(fake_redis)) == 1


async def test_no_ending_writes_an_event_when_nobody_would_receive_it(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    await fake_redis.delete(WEBHOOK_RECEIVER_KEY)
    cancelled = await fake_client.submit(ITEMS)
    await cancelled.cancel()
    await fake_client.create_record("batch_unsealed")
    assert await end_unsealed(fake_client, "batch_unsealed", BatchStatus.FAILED, {"data": []})
    for batch in (cancelled, Batch(fake_client, "batch_unsealed")):
        info = await batch.status()
        assert info.status in TERMINAL_STATUSES and info.webhook_deliveries == []
    assert await due_members(fake_redis) == []


async def test_a_batch_with_its_own_receiver_has_its_event_without_a_server_wide_one(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    await fake_redis.delete(WEBHOOK_RECEIVER_KEY)
    fake_client.settings.webhook_allow_private = True
    batch = await fake_client.submit(ITEMS, webhook="http://127.0.0.1:8/own")
    await batch.cancel()
    await one_event(fake_redis, batch, "batch.cancelled")


async def test_only_a_worker_with_a_receiver_announces_one_and_for_a_day(
    fake_redis: FakeRedis,
) -> None:
    await fake_redis.delete(WEBHOOK_RECEIVER_KEY)
    await WebhookDeliverer(fake_redis, WebhookSettings(webhook_url="")).announce()
    assert not await fake_redis.exists(WEBHOOK_RECEIVER_KEY)
    with_url = WebhookSettings(webhook_url="https://hooks.example.com/respq")
    await WebhookDeliverer(fake_redis, with_url).announce()
    assert 86_000 < await fake_redis.ttl(WEBHOOK_RECEIVER_KEY) <= 86_400

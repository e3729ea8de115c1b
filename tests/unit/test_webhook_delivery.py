"""worker/webhooks.py on fakeredis with a scripted receiver (httpx.MockTransport): what is
sent is what the official SDK's ``webhooks.unwrap`` and the ``standardwebhooks`` package
accept; failed attempts are retried after the base delay, doubling, under one webhook-id;
a claim keeps other workers off the event until its lease passes; old events are given up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import orjson
import pytest
import standardwebhooks
from fakeredis.aioredis import FakeRedis

from respq import BatchClient
from respq.contract.constants import WEBHOOK_FIELD_PREFIX, WEBHOOK_RECEIVER_KEY, WEBHOOKS_KEY
from respq.contract.webhooks import WebhookSettings, new_secret
from respq.producer.batch import Batch
from respq.worker.webhooks import WebhookDeliverer, retry_delay

SECRET = new_secret()
RECEIVER = "http://127.0.0.1:9/hook"


class Receiver:
    """Answers 500 to the first ``refuse`` deliveries, then 200; keeps every request."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500 if len(self.requests) <= self.refuse else 200)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def settings(**overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "webhook_url": RECEIVER,
        "webhook_secret": SECRET,
        "webhook_allow_private": True,
        "webhook_retry_base": 10.0,
        **overrides,
    }
    return WebhookSettings(**values)


async def ended_batch(client: BatchClient) -> Batch:
    """A batch cancelled while a worker with RESPQ_WEBHOOK_URL has announced it."""
    await client.redis.set(WEBHOOK_RECEIVER_KEY, "1")
    batch = await client.submit([{"model": "gpt-5.4", "input": "q"}])
    await batch.cancel()
    return batch


async def make_due(redis: FakeRedis) -> None:
    """As if every event's next attempt had come."""
    for member in await redis.zrange(WEBHOOKS_KEY, 0, -1):
        await redis.zadd(WEBHOOKS_KEY, {member: 0})


def headers_of(request: httpx.Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.startswith("webhook-")}


async def test_a_delivery_is_what_the_sdk_and_standard_webhooks_accept(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    batch = await ended_batch(fake_client)
    receiver = Receiver()
    deliverer = WebhookDeliverer(fake_redis, settings(), transport=receiver.transport())
    assert await deliverer.tick() == 1
    await deliverer.stop()
    (request,) = receiver.requests
    assert request.url.path == "/hook" and request.headers["host"] == "127.0.0.1:9"
    body, headers = request.content, dict(request.headers)
    event = openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret=SECRET)
    assert (event.type, event.data.id, event.object) == ("batch.cancelled", batch.id, "event")
    judged = standardwebhooks.Webhook(SECRET).verify(body, headers)
    assert judged["id"] == event.id == headers["webhook-id"]
    assert orjson.loads(body) == {
        "id": event.id,
        "object": "event",
        "created_at": event.created_at,
        "type": "batch.cancelled",
        "data": {"id": batch.id},
    }
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret=new_secret())
    (delivery,) = (await batch.status()).webhook_deliveries
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert await fake_redis.zcard(WEBHOOKS_KEY) == 0


async def test_refused_attempts_are_retried_doubling_under_one_webhook_id(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    batch = await ended_batch(fake_client)
    receiver = Receiver(refuse=2)
    deliverer = WebhookDeliverer(fake_redis, settings(), transport=receiver.transport())
    delays = []
    for _ in range(2):
        before = time.time()
        assert await deliverer.tick() == 1
        (_, score) = (await fake_redis.zrange(WEBHOOKS_KEY, 0, -1, withscores=True))[0]
        delays.append(score / 1000 - before)
        assert await deliverer.tick() == 0  # not due yet
        (delivery,) = (await batch.status()).webhook_deliveries
        assert delivery.state == "retrying" and delivery.last_error == "HTTP 500"
        await make_due(fake_redis)
    assert await deliverer.tick() == 1
    await deliverer.stop()
    # first retry after the base (10 s), then twice that; jitter adds at most a fifth
    assert 10 - 1 <= delays[0] <= 12 + 1 and 20 - 1 <= delays[1] <= 24 + 1
    assert len({headers_of(r)["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 3
    (delivery,) = (await batch.status()).webhook_deliveries
    assert (delivery.state, delivery.attempts) == ("delivered", 3)
    assert delivery.last_error == "HTTP 500"  # the last failure stays visible


def test_retry_delays_double_from_the_base() -> None:
    for attempt, low in ((1, 5), (2, 10), (3, 20), (10, 2560)):
        assert low <= retry_delay(attempt, 5.0) <= low * 1.2


async def test_a_claimed_event_is_not_sent_again_until_its_lease_passes(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    batch = await ended_batch(fake_client)
    release = asyncio.Event()
    seen: list[httpx.Request] = []

    async def stuck_then_refused(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        await release.wait()
        return httpx.Response(500)

    def accepted(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    first = WebhookDeliverer(
        fake_redis, settings(), transport=httpx.MockTransport(stuck_then_refused)
    )
    second = WebhookDeliverer(fake_redis, settings(), transport=httpx.MockTransport(accepted))
    sending = asyncio.create_task(first.tick())
    while not seen:
        await asyncio.sleep(0.01)
    assert await second.tick() == 0  # claimed by the first, whose attempt is under way
    await make_due(fake_redis)  # the first worker's lease has passed (it hung, or died)
    assert await second.tick() == 1
    release.set()
    assert await sending == 1
    await first.stop()
    await second.stop()
    # Both attempts went out (at least once), under one id; the lapsed claim's late
    # failure is not written over the delivery the second worker recorded.
    assert len({headers_of(r)["webhook-id"] for r in seen}) == 1
    (delivery,) = (await batch.status()).webhook_deliveries
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 1, None)
    assert await fake_redis.zcard(WEBHOOKS_KEY) == 0


async def test_an_event_past_its_max_age_is_given_up(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    batch = await ended_batch(fake_client)
    (delivery,) = (await batch.status()).webhook_deliveries
    field = WEBHOOK_FIELD_PREFIX + delivery.event_id
    state = orjson.loads(await fake_redis.hget(batch.keys.meta, field))
    state["created_at"] = int(time.time()) - 7200
    await fake_redis.hset(batch.keys.meta, field, orjson.dumps(state))
    receiver = Receiver(refuse=100)
    deliverer = WebhookDeliverer(
        fake_redis, settings(webhook_max_age=3600), transport=receiver.transport()
    )
    assert await deliverer.tick() == 1
    await deliverer.stop()
    (delivery,) = (await batch.status()).webhook_deliveries
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert await fake_redis.zcard(WEBHOOKS_KEY) == 0


Answer = Callable[[httpx.Request], Any]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"webhook_allow_private": False}, "resolves to loopback address 127.0.0.1"),
        ({"webhook_secret": None}, "RESPQ_WEBHOOK_SECRET is not set"),
        ({"webhook_timeout": 0.2}, "no answer within 0.2s"),
    ],
)
async def test_a_failed_attempt_records_why_and_is_due_again(
    fake_client: BatchClient, fake_redis: FakeRedis, overrides: dict[str, Any], expected: str
) -> None:
    batch = await ended_batch(fake_client)

    async def hang(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    deliverer = WebhookDeliverer(
        fake_redis, settings(**overrides), transport=httpx.MockTransport(hang)
    )
    assert await deliverer.tick() == 1
    await deliverer.stop()
    (delivery,) = (await batch.status()).webhook_deliveries
    assert delivery.state == "retrying" and delivery.last_error is not None
    assert expected in delivery.last_error
    assert SECRET not in str((await batch.status()).openai_shape())


async def test_an_event_whose_receiver_has_gone_is_dropped(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    # Written while a worker had RESPQ_WEBHOOK_URL; the one delivering it has none.
    batch = await ended_batch(fake_client)
    receiver = Receiver()
    deliverer = WebhookDeliverer(
        fake_redis, settings(webhook_url=""), transport=receiver.transport()
    )
    assert await deliverer.tick() == 1
    await deliverer.stop()
    assert receiver.requests == []
    assert (await batch.status()).webhook_deliveries == []
    assert await fake_redis.zcard(WEBHOOKS_KEY) == 0


async def test_a_batch_webhook_goes_to_its_own_receiver(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    fake_client.settings.webhook_allow_private = True
    batch = await fake_client.submit(
        [{"model": "gpt-5.4", "input": "q"}], webhook="http://user:pw@127.0.0.1:8/own?token=t"
    )
    await batch.cancel()
    info = await batch.status()
    assert info.webhook == "http://127.0.0.1:8/own?…"  # no credentials, no token
    receiver = Receiver()
    deliverer = WebhookDeliverer(fake_redis, settings(), transport=receiver.transport())
    assert await deliverer.tick() == 1
    await deliverer.stop()
    (request,) = receiver.requests
    assert (request.url.path, request.url.query) == ("/own", b"token=t")
    assert request.headers["authorization"].startswith("Basic ")

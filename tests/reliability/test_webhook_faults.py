"""Webhooks that are never lost: a receiver (its own process, over real HTTP) refuses every
delivery while the four events are born (completed, cancelled, expired, failed); the
delivering worker is SIGKILLed, Redis is killed (-9) and restarted (AOF), a new worker
starts, and once the receiver accepts, each event arrives, signed as the official SDK and
the standardwebhooks package accept, under one webhook-id per event."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from respq import BatchClient, BatchInfo
from respq.contract.webhooks import new_secret
from respq.mockapi import MockConfig, MockServer
from respq.server.pipeline import fail

from helpers.factories import items
from helpers.polling import wait_until, wait_until_async
from helpers.processes import Managed
from helpers.redis_servers import RedisServer
from helpers.webhooks import Delivery, WebhookReceiver, judged, signing_worker, webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = new_secret()
WEBHOOK_TIMEOUT_S = 2  # a claim's lease is this + 5 s


def worker(
    tmp_path: Path, name: str, server: RedisServer, queue: str, base_url: str, **env: Any
) -> Managed:
    return signing_worker(
        tmp_path / f"{name}.log",
        server.url(0),
        queue,
        base_url,
        SECRET,
        worker_in_flight=8,
        lease_seconds=6,
        webhook_retry_base=0.5,
        webhook_timeout=WEBHOOK_TIMEOUT_S,
        **env,
    )


async def statuses(client: BatchClient, ids: list[str]) -> list[BatchInfo]:
    return [await (await client.get(batch_id)).status() for batch_id in ids]


def by_batch(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    found: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        found[judged(delivery, SECRET).data.id].append(delivery)
    return found


async def test_every_event_arrives_through_a_worker_sigkill_and_a_redis_restart(
    tmp_path: Path, queue_name: str
) -> None:
    with (
        RedisServer(tmp_path / "redis") as server,
        MockServer(MockConfig(latency=0.3)) as mock,
        webhook_receiver(tmp_path, delay=0.5) as receiver,
    ):
        receiver.refuse_all(True)
        hooks = {"base_url": mock.base_url, "webhook_url": receiver.url}
        first = worker(tmp_path, "first", server, queue_name, **hooks)
        async with BatchClient.from_url(server.url(0), queue_name=queue_name) as client:
            expected = {
                (await client.submit(items(4, cid="c"))).id: "batch.completed",
                (await client.submit(items(40, cid="x"), max_in_flight=2)).id: "batch.cancelled",
                (expiring := await client.submit(items(40, cid="e"), max_in_flight=2)).id: (
                    "batch.expired"
                ),
                "batch_bad_file": "batch.failed",
            }
            # Its window ends now (windows are 24h or more: the record is moved instead).
            await client.redis.hset(expiring.keys.meta, "expires_at", int(time.time()))
            await client.create_record("batch_bad_file")
            await fail(client, "batch_bad_file", {"object": "list", "data": []})
            cancelled = next(b for b, t in expected.items() if t == "batch.cancelled")
            await (await client.get(cancelled)).cancel()
            ids = list(expected)

            async def all_ended_and_refused() -> bool:
                infos = await statuses(client, ids)
                return all(
                    info.webhook_deliveries and info.webhook_deliveries[0].attempts >= 1
                    for info in infos
                )

            await wait_until_async(all_ended_and_refused, 60, "four events, each refused")
            assert [i.status.value for i in await statuses(client, ids)] == [
                t.removeprefix("batch.") for t in expected.values()
            ]
        # The only deliverer dies (its claims lapse after their lease), then Redis is
        # killed and restarted from its AOF while the receiver still refuses.
        first.signal(signal.SIGKILL)
        first.wait(10)
        server.kill()
        server.start()
        refused_before = len(receiver.deliveries())
        with worker(tmp_path, "second", server, queue_name, **hooks):
            wait_until(
                lambda: len(receiver.deliveries()) > refused_before,
                30,
                "the new worker retries the refused events",
            )
            receiver.refuse_all(False)
            started = time.monotonic()
            wait_until(lambda: accepted_batches(receiver) == set(ids), 60, "all four accepted")
            took = time.monotonic() - started
        async with BatchClient.from_url(server.url(0), queue_name=queue_name) as client:
            infos = {info.id: info for info in await statuses(client, ids)}
    deliveries = by_batch(receiver.deliveries())
    assert set(deliveries) == set(ids)
    for batch_id, sent in deliveries.items():
        events = {judged(d, SECRET).type for d in sent}
        assert events == {expected[batch_id]}, batch_id
        assert len({d.webhook_id for d in sent}) == 1, f"{batch_id}: one event, one webhook-id"
        assert any(not d.accepted for d in sent) and any(d.accepted for d in sent)
        (state,) = infos[batch_id].webhook_deliveries
        assert state.event_id == sent[0].webhook_id
        assert state.state == "delivered" and state.attempts >= 2
        assert state.last_error == "HTTP 500"
    print(f"all four events accepted {took:.1f}s after the receiver came back")


def accepted_batches(receiver: WebhookReceiver) -> set[str]:
    return {judged(d, SECRET).data.id for d in receiver.deliveries() if d.accepted}

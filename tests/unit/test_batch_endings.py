"""Requests that end without a call: input refused before enqueue, a cancelled batch,
an expired completion window."""

from __future__ import annotations

import time

import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus, InvalidInput

from helpers.upstream import Upstream, drain, lines


async def test_invalid_item_enqueues_nothing(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    with pytest.raises(InvalidInput) as info:
        await fake_client.submit([{"model": "m", "input": "ok"}, {"model": "m", "temperature": 9}])
    assert "item 1" in str(info.value) and "temperature" in str(info.value)
    assert await fake_redis.dbsize() == 0


async def test_cancel_ends_queued_requests(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(9)])
    info = await batch.cancel()
    assert info.status is BatchStatus.CANCELLED
    assert info.errors_by_code == {"batch_cancelled": 9}
    upstream = Upstream()
    await drain(fake_redis, queue_name, upstream)
    assert upstream.calls == []
    out = await lines(fake_client, batch.id)
    assert {line["error"]["code"] for line in out} == {"batch_cancelled"}


async def test_expired_window_ends_requests_as_batch_expired(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}] * 1)
    # The shortest window is 24h: its end is moved into the past.
    await fake_redis.hset(batch.keys.meta, "expires_at", int(time.time()) - 5)
    upstream = Upstream()
    await drain(fake_redis, queue_name, upstream)
    info = await batch.status()
    assert info.status is BatchStatus.EXPIRED
    assert info.errors_by_code == {"batch_expired": 1}
    assert upstream.calls == []

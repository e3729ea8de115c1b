"""Chains (``depends_on``): children run after their parents with the parent's response
id, a failed parent fails its chain, and retry or cancel take the whole chain."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus, InvalidInput

from helpers.factories import response_body
from helpers.upstream import Upstream, drain, lines


def chain_items() -> list[dict[str, Any]]:
    return [
        {"custom_id": "root", "body": {"model": "gpt-5.4", "input": "names"}},
        {"custom_id": "a", "depends_on": "root", "body": {"model": "gpt-5.4", "input": "more"}},
        {"custom_id": "b", "depends_on": "root", "body": {"model": "gpt-5.4", "input": "fun"}},
        {"custom_id": "a1", "depends_on": "a", "body": {"model": "gpt-5.4", "input": "again"}},
        {"custom_id": "solo", "body": {"model": "gpt-5.4", "input": "alone"}},
    ]


class ChainUpstream(Upstream):
    """Answers with a distinct response id per input, and fails inputs listed in ``fail``."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()

        def handler(request: httpx.Request) -> httpx.Response:
            text = orjson.loads(request.content)["input"]
            if text in self.fail:
                return httpx.Response(500, json={"error": {"code": "server_error"}})
            return httpx.Response(200, json={**response_body(), "id": f"resp_{text}"})

        super().__init__(handler)

    def sent(self, text: str) -> dict[str, Any]:
        return next(body for _, body in self.calls if body["input"] == text)


async def test_chains_run_children_after_parents_with_their_response_id(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    upstream = ChainUpstream()
    batch = await fake_client.submit(chain_items())
    await drain(fake_redis, queue_name, upstream)
    info = await batch.status()
    assert (info.status, info.request_counts.completed) == ("completed", 5)
    order = [body["input"] for _, body in upstream.calls]
    assert order.index("names") < order.index("more") < order.index("again")
    assert order.index("names") < order.index("fun")
    assert upstream.sent("names")["store"] is True  # parents are stored
    assert "store" not in upstream.sent("again")  # leaves are sent as written
    assert upstream.sent("more")["previous_response_id"] == "resp_names"
    assert upstream.sent("fun")["previous_response_id"] == "resp_names"
    assert upstream.sent("again")["previous_response_id"] == "resp_more"
    assert "previous_response_id" not in upstream.sent("alone")


async def test_failed_parent_fails_the_whole_chain_then_retry_reruns_it(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    upstream = ChainUpstream(fail={"names"})
    batch = await fake_client.submit(chain_items())
    await drain(fake_redis, queue_name, upstream, max_attempts=1)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.errors_by_code == {"server_error": 1, "dependency_failed": 3}
    assert {body["input"] for _, body in upstream.calls} == {"names", "alone"}
    out = {line["custom_id"]: line for line in await lines(fake_client, batch.id)}
    assert out["a1"]["error"]["code"] == "dependency_failed"

    upstream.fail.clear()
    assert await batch.retry() == 4
    await drain(fake_redis, queue_name, upstream)
    info = await batch.status()
    assert (info.request_counts.completed, info.request_counts.failed) == (5, 0)
    assert info.errors_by_code == {}
    assert upstream.calls[-1][1]["previous_response_id"] == "resp_more"


async def test_chain_validation_errors_enqueue_nothing(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    items = [
        {"custom_id": "x", "depends_on": "y", "body": {"model": "m"}},
        {"custom_id": "y", "depends_on": "x", "body": {"model": "m"}},
        {"custom_id": "z", "depends_on": "nobody", "body": {"model": "m"}},
        {"custom_id": "self", "depends_on": "self", "body": {"model": "m"}},
    ]
    with pytest.raises(InvalidInput) as info:
        await fake_client.submit(items)
    text = str(info.value)
    assert "'y' comes later" in text
    assert "'nobody', which is not a custom_id" in text
    assert "cannot depend on itself" in text
    assert await fake_redis.dbsize() == 0


async def test_cancel_ends_waiting_children(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit(chain_items())
    info = await batch.cancel()
    assert info.status is BatchStatus.CANCELLED
    assert sum(info.errors_by_code.values()) == 5

"""The worker end to end on fakeredis and httpx.MockTransport: each kind of answer
(success, final error, retryable error, Retry-After, account error) recorded once, with the
right code, counts and usage."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.constants import ARQ_JOB_PREFIX
from respq.contract.lines import is_success

from helpers.factories import response_body
from helpers.polling import wait_until_async
from helpers.upstream import Upstream, config, drain, lines
from helpers.workers import build_worker, run_burst


async def test_success_records_result_and_usage(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    upstream = Upstream()
    batch = await fake_client.submit(
        [{"model": "gpt-5.4", "input": f"q{i}"} for i in range(10)], metadata={"team": "x"}
    )
    await drain(fake_redis, queue_name, upstream)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.completed_at is not None
    assert (info.request_counts.total, info.request_counts.completed) == (10, 10)
    assert info.metadata == {"team": "x"}
    assert info.usage.input_tokens == 50 and info.usage.output_tokens == 70
    assert info.usage.cached_tokens == 10 and info.usage.reasoning_tokens == 20
    assert info.usage_by_model["gpt-5.4"].requests == 10
    out = await lines(fake_client, batch.id)
    assert [line["custom_id"] for line in out] == [f"line-{i}" for i in range(1, 11)]
    assert all(line["error"] is None and line["response"]["status_code"] == 200 for line in out)
    assert len(upstream.calls) == 10


async def test_model_not_found_is_final_after_one_call(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    body = {
        "error": {
            "message": "no such model",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    }
    upstream = Upstream(lambda _: httpx.Response(404, json=body, headers={"x-request-id": "req_x"}))
    batch = await fake_client.submit([{"model": "gpt-typo", "input": "x"}])
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 1
    info = await batch.status()
    assert info.errors_by_code == {"model_not_found": 1}
    assert info.request_counts.failed == 1
    (line,) = await lines(fake_client, batch.id)
    # An HTTP answer is kept as OpenAI writes it: the response, and no error object.
    assert line["error"] is None
    assert line["response"] == {"status_code": 404, "request_id": "req_x", "body": body}


async def test_429_retry_after_is_honoured(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    answers = iter(
        [
            httpx.Response(
                429,
                json={"error": {"code": "rate_limit_exceeded"}},
                headers={"retry-after-ms": "300"},
            ),
            httpx.Response(200, json=response_body()),
        ]
    )
    upstream = Upstream(lambda _: next(answers))
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}])
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 2
    assert upstream.calls[1][0] - upstream.calls[0][0] >= 0.3
    assert (await batch.status()).request_counts.completed == 1


async def test_500_until_attempts_run_out(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    upstream = Upstream(
        lambda _: httpx.Response(500, json={"error": {"message": "boom", "code": "server_error"}})
    )
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}])
    await drain(fake_redis, queue_name, upstream, max_attempts=4)
    assert len(upstream.calls) == 4
    info = await batch.status()
    assert info.errors_by_code == {"server_error": 1}
    (line,) = await lines(fake_client, batch.id)
    assert line["response"]["status_code"] == 500


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            httpx.Response(401, json={"error": {"message": "bad key", "code": "invalid_api_key"}}),
            "invalid_api_key",
        ),
        (httpx.Response(200, text="<html>oops</html>"), "invalid_response"),
        (httpx.Response(200, json={"garbage": True}), "invalid_response"),
        (
            httpx.Response(429, json={"error": {"code": "insufficient_quota", "message": "pay"}}),
            "insufficient_quota",
        ),
    ],
)
async def test_final_errors_are_not_retried(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    answer: httpx.Response,
    code: str,
) -> None:
    upstream = Upstream(lambda _: answer)
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}])
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 1
    assert (await batch.status()).errors_by_code == {code: 1}


async def test_stream_request_stores_the_same_shape(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    final = response_body("streamed")
    payload = (
        b"event: response.created\ndata: " + orjson.dumps({"type": "response.created"}) + b"\n\n"
        b"event: response.completed\ndata: "
        + orjson.dumps({"type": "response.completed", "response": final})
        + b"\n\n"
    )
    upstream = Upstream(
        lambda _: httpx.Response(
            200, content=payload, headers={"content-type": "text/event-stream"}
        )
    )
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x", "stream": True}])
    await drain(fake_redis, queue_name, upstream)
    (line,) = await lines(fake_client, batch.id)
    assert line["response"]["body"] == final
    assert (await batch.status()).usage.total_tokens == 12


async def test_usage_totals_equal_the_sum_over_lines(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        n = len(body["input"])
        if body["model"] == "bad":
            return httpx.Response(404, json={"error": {"code": "model_not_found"}})
        return httpx.Response(200, json=response_body(model=body["model"], tokens=(n, 2 * n)))

    items = [{"model": ["a", "b", "bad"][i % 3], "input": "x" * (i + 1)} for i in range(30)]
    batch = await fake_client.submit(items)
    await drain(fake_redis, queue_name, Upstream(handler))
    info = await batch.status()
    out = await lines(fake_client, batch.id)
    usages = [line["response"]["body"]["usage"] for line in out if is_success(line)]
    assert info.usage.input_tokens == sum(u["input_tokens"] for u in usages)
    assert info.usage.output_tokens == sum(u["output_tokens"] for u in usages)
    assert info.usage.total_tokens == sum(u["total_tokens"] for u in usages)
    per_model = {m: u.total_tokens for m, u in info.usage_by_model.items() if u.total_tokens}
    assert sum(per_model.values()) == info.usage.total_tokens
    assert info.request_counts.completed + info.request_counts.failed == 30
    assert info.errors_by_code == {"model_not_found": 10}


async def test_long_retry_after_releases_the_slot(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    upstream = Upstream(
        lambda _: httpx.Response(
            429, json={"error": {"code": "rate_limit_exceeded"}}, headers={"retry-after": "600"}
        )
    )
    batch = await fake_client.submit([{"custom_id": "slow", "body": {"model": "gpt-5.4"}}])
    worker = build_worker(
        config(queue_name), redis_pool=fake_redis, transport=upstream.transport(), burst=False
    )
    task_runner = run_burst(worker, timeout=1)
    with pytest.raises(TimeoutError):
        await task_runner
    assert len(upstream.calls) == 1
    scores = await fake_redis.zrange(queue_name, 0, -1, withscores=True)
    deferred = [(j.decode(), s) for j, s in scores if b":d:" in j]
    assert deferred and deferred[0][1] > (time.time() + 500) * 1000
    record = orjson.loads(await fake_redis.get(ARQ_JOB_PREFIX + deferred[0][0]))
    assert record["a"] == [batch.id, ["slow"], 1]
    assert (await batch.status()).request_counts.failed == 0


async def test_retry_only_some_codes_keeps_totals_exact(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        text = orjson.loads(request.content)["input"]
        if text.startswith("fail"):
            return httpx.Response(500, json={"error": {"code": "server_error"}})
        if text.startswith("gone"):
            return httpx.Response(404, json={"error": {"code": "model_not_found"}})
        return httpx.Response(200, json=response_body())

    items = [{"model": "gpt-5.4", "input": t} for t in ["ok1", "fail1", "gone1", "ok2", "fail2"]]
    batch = await fake_client.submit(items)
    await drain(fake_redis, queue_name, Upstream(handler), max_attempts=1)
    info = await batch.status()
    assert info.errors_by_code == {"server_error": 2, "model_not_found": 1}

    healed = Upstream()
    assert await batch.retry(codes=["server_error"]) == 2
    assert (await batch.status()).status is BatchStatus.IN_PROGRESS
    await drain(fake_redis, queue_name, healed)
    assert len(healed.calls) == 2
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert (info.request_counts.completed, info.request_counts.failed) == (4, 1)
    assert info.errors_by_code == {"model_not_found": 1}
    assert info.usage.total_tokens == 4 * 12
    assert info.usage_by_model["gpt-5.4"].requests == 5


async def test_account_errors_pause_the_batch_only_when_they_come_in_a_row(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    # q0 and q2 get a 401, q1 succeeds in between, q3 succeeds: never 3 in a row.
    bad_key = httpx.Response(401, json={"error": {"message": "bad", "code": "invalid_api_key"}})
    answers = {"q0": bad_key, "q2": bad_key}

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.get(orjson.loads(request.content)["input"]) or httpx.Response(
            200, json=response_body()
        )

    batch = await fake_client.submit([{"model": "m", "input": f"q{i}"} for i in range(4)])
    await drain(
        fake_redis, queue_name, Upstream(handler), worker_in_flight=1, account_error_pause=2
    )
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.errors_by_code == {"invalid_api_key": 2}

    answers.update({f"r{i}": bad_key for i in range(3)})
    paused = await fake_client.submit([{"model": "m", "input": f"r{i}"} for i in range(3)])
    # A burst worker would wait for the paused batch: run one until it has paused.
    worker = build_worker(
        config(queue_name, worker_in_flight=1, account_error_pause=2),
        redis_pool=fake_redis,
        transport=Upstream(handler).transport(),
        burst=False,
    )
    running = asyncio.create_task(worker.main())

    async def is_paused() -> bool:
        return (await paused.status()).status is BatchStatus.PAUSED

    try:
        await wait_until_async(is_paused, timeout=20)
    finally:
        await worker.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    info = await paused.status()
    assert info.errors_by_code == {"invalid_api_key": 1}
    assert info.pause_reason is not None and "respq resume" in info.pause_reason

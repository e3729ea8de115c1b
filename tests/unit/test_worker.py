"""The worker end to end on fakeredis and httpx.MockTransport: every outcome recorded
exactly once, with the right code, counts and usage."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus, InvalidInput
from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, ARQ_JOB_PREFIX, BatchKeys
from respq.contract.lines import is_success

from helpers.factories import response_body
from helpers.polling import wait_until_async
from helpers.upstream import Upstream, config, drain, lines
from helpers.workers import build_worker, dispatch_all, run_burst


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


async def test_resubmit_with_same_batch_id_enqueues_nothing_twice(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    items = [{"custom_id": f"c{i}", "body": {"model": "gpt-5.4", "input": "x"}} for i in range(10)]
    first = await fake_client.submit(items, batch_id="batch_same")
    waiting = await fake_redis.llen(BatchKeys("batch_same").jobs)
    again = await fake_client.submit(items, batch_id="batch_same")
    assert again.id == first.id
    assert await fake_redis.llen(BatchKeys("batch_same").jobs) == waiting
    assert (await again.status()).request_counts.total == 10
    upstream = Upstream()
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 10
    more = await fake_client.submit(
        [*items, {"custom_id": "c10", "body": {"model": "gpt-5.4", "input": "x"}}],
        batch_id="batch_same",
    )
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 11
    info = await more.status()
    assert (info.request_counts.total, info.request_counts.completed, info.status) == (
        11,
        11,
        "completed",
    )


async def test_job_executed_twice_records_once_and_calls_once(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(4)])
    (job_id,) = [j.encode() for j in await dispatch_all(fake_redis, queue_name)]
    record = await fake_redis.get(ARQ_JOB_PREFIX + job_id.decode())
    upstream = Upstream()
    await drain(fake_redis, queue_name, upstream)
    # The same job again, as arq does after a worker died before finishing it.
    await fake_redis.set(ARQ_JOB_PREFIX + job_id.decode(), record)
    await fake_redis.zadd(queue_name, {job_id: time.time() * 1000})
    await drain(fake_redis, queue_name, upstream)
    assert len(upstream.calls) == 4
    info = await batch.status()
    assert (info.request_counts.completed, info.usage.total_tokens) == (4, 48)
    assert len(await lines(fake_client, batch.id)) == 4


async def test_a_job_rerun_while_its_first_run_is_still_sending_counts_each_request_once(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    """The at-least-once window: a live worker's lease lapses (it lost Redis for longer
    than the lease) and its job runs again while the first run's requests are still out.
    Both runs send; the first answer recorded counts and the late one changes nothing."""
    release = asyncio.Event()
    sent: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        cid = orjson.loads(request.content)["input"]
        sent[cid] += 1
        if sent[cid] == 1:  # the first run's answers arrive only after the rerun's
            await release.wait()
            return httpx.Response(200, json=response_body("late", tokens=(50, 70)))
        return httpx.Response(200, json=response_body("rerun"))

    n = 4
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(n)])
    transport = httpx.MockTransport(handler)
    cfg = config(queue_name)
    # A worker never runs a job twice at once itself: a second worker takes the rerun.
    first = build_worker(cfg, redis_pool=fake_redis, transport=transport, burst=False)
    running = asyncio.create_task(first.main())

    async def first_run_sending() -> bool:
        return len(sent) == n

    async def first_run_done() -> bool:
        return first.jobs_complete == 1

    try:
        await wait_until_async(first_run_sending)
        # The first worker loses Redis: its lease renewals stop, the lease lapses and
        # arq's in-progress key is gone, so the job is free to run again.
        await first.ctx["respq_leases"].stop()
        job_id = (await fake_redis.hget(batch.keys.inflight, "line-1")).decode()
        await fake_redis.delete(ARQ_IN_PROGRESS_PREFIX + job_id)
        # Another worker takes the job and runs it to the end.
        await run_burst(build_worker(cfg, redis_pool=fake_redis, transport=transport))
        assert (await batch.status()).request_counts.completed == n
        release.set()
        await wait_until_async(first_run_done)
    finally:
        release.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await first.close()
    assert sent == {f"x{i}": 2 for i in range(n)}  # the window: each was sent twice
    info = await batch.status()
    assert (info.status, info.request_counts.completed, info.request_counts.failed) == (
        BatchStatus.COMPLETED,
        n,
        0,
    )
    assert info.usage.total_tokens == n * 12  # the rerun's answers, counted once
    assert info.usage_by_model["gpt-5.4"].requests == n
    out = await lines(fake_client, batch.id)
    assert [line["response"]["body"]["output_text"] for line in out] == ["rerun"] * n


async def test_invalid_item_enqueues_nothing(
    fake_client: BatchClient, fake_redis: FakeRedis
) -> None:
    with pytest.raises(InvalidInput) as info:
        await fake_client.submit([{"model": "m", "input": "ok"}, {"model": "m", "temperature": 9}])
    assert "item 1" in str(info.value) and "temperature" in str(info.value)
    assert await fake_redis.dbsize() == 0


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


async def test_pickled_job_is_refused_not_run(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str, tmp_path: Any
) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    await fake_redis.set(
        ARQ_JOB_PREFIX + "evil", pickle.dumps({"f": "run_requests", "x": Exploit()})
    )
    await fake_redis.zadd(queue_name, {"evil": time.time() * 1000})
    await drain(fake_redis, queue_name, Upstream())
    assert not marker.exists()
    assert await fake_redis.zcard(queue_name) == 0


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


async def test_a_refused_write_back_is_kept_and_written_without_sending_again(
    fake_client: BatchClient,
    fake_redis: FakeRedis,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import OutOfMemoryError

    from respq.worker.results import Result, ResultWriter

    real_write = ResultWriter.write
    # Redis gone, then at maxmemory, then accepting again.
    refusals = iter(
        [RedisConnectionError("Redis went away"), OutOfMemoryError("command not allowed")]
    )
    refused: list[Result] = []

    async def flaky_write(self: ResultWriter, batch_id: str, results: list[Result]) -> list[int]:
        refusal = next(refusals, None)
        if refusal is not None:
            refused.extend(results)
            raise refusal
        return await real_write(self, batch_id, results)

    monkeypatch.setattr(ResultWriter, "write", flaky_write)
    upstream = Upstream()
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": f"x{i}"} for i in range(3)])
    await drain(fake_redis, queue_name, upstream)
    info = await batch.status()
    assert (info.status, info.request_counts.completed) == ("completed", 3)
    assert info.usage.total_tokens == 3 * 12
    assert len(await lines(fake_client, batch.id)) == 3
    assert refused
    assert len(upstream.calls) == 3  # the answers were kept, not asked for again


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

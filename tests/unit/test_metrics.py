"""Observability: Prometheus metrics of a worker and structured per-request log lines that
never carry a secret."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient
from respq.worker import WorkerConfig
from respq.worker.logs import JsonFormatter
from respq.worker.metrics import Metrics

from helpers.factories import response_body
from helpers.polling import wait_until_async
from helpers.ports import free_port
from helpers.workers import build_worker, run_burst

SECRET = "sk-metrics-secret-0123456789abcdef"
UPSTREAM = "http://upstream.test/v1"


def handler(request: httpx.Request) -> httpx.Response:
    body = orjson.loads(request.content)
    if body["input"] == "bad":
        return httpx.Response(
            404, json={"error": {"message": "no such model", "code": "model_not_found"}}
        )
    return httpx.Response(200, json=response_body())


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_disabled_metrics_do_nothing() -> None:
    metrics = Metrics.disabled()
    metrics.request("completed", "", "m")
    metrics.waited(1.0)
    with metrics.upstream_call("m"):
        pass
    metrics.start(free_port())
    assert metrics.port is None
    assert b"respq_requests_total" not in metrics.exposition()
    await metrics.stop()


async def test_worker_metrics_and_endpoint(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    port = free_port()
    limits = {"rpm": 100_000, "tpm": 10_000_000}
    config = WorkerConfig(
        base_url=UPSTREAM, api_key=SECRET, queue_name=queue_name, metrics_port=port, **limits
    )
    items = [{"model": "gpt-5.4", "input": f"q{i}"} for i in range(4)]
    items.append({"model": "gpt-5.4", "input": "bad"})
    await fake_client.submit(items)
    worker = build_worker(config, redis_pool=fake_redis, transport=httpx.MockTransport(handler))
    started = asyncio.Event()
    scraped: list[str] = []

    async def scrape() -> None:
        await wait_until_async(
            lambda: asyncio.sleep(0, result="respq_metrics" in worker.ctx), 10, "metrics", 0.01
        )
        started.set()
        answer = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")
        scraped.append(answer.text)

    scraper = asyncio.create_task(scrape())
    await run_burst(worker)
    await asyncio.wait_for(scraper, 10)
    assert "respq_in_flight" in scraped[0] and "respq_queue_depth" in scraped[0]

    metrics: Metrics = worker.ctx["respq_metrics"]
    completed = {"outcome": "completed", "code": "", "model": "gpt-5.4"}
    failed = {"outcome": "failed", "code": "model_not_found", "model": "gpt-5.4"}
    assert sample(metrics, "respq_requests_total", **completed) == 4
    assert sample(metrics, "respq_requests_total", **failed) == 1
    assert sample(metrics, "respq_tokens_total", direction="input", model="gpt-5.4") == 20
    assert sample(metrics, "respq_tokens_total", direction="output", model="gpt-5.4") == 28
    assert sample(metrics, "respq_upstream_seconds_count", model="gpt-5.4") == 5
    assert sample(metrics, "respq_limiter_wait_seconds_count") == 5
    assert sample(metrics, "respq_retries_total") == 0
    await metrics.refresh_queue_depth(fake_redis, queue_name)
    assert sample(metrics, "respq_queue_depth") == 0
    # the server was stopped at shutdown
    with pytest.raises(httpx.TransportError):
        await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=1)


async def test_retries_are_counted(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    answers = iter([httpx.Response(500, json={"error": {"code": "server_error"}})])

    def flaky(_: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json=response_body()))

    config = WorkerConfig(
        base_url=UPSTREAM,
        queue_name=queue_name,
        metrics_port=free_port(),
        retry_base=0.01,
        retry_cap=0.02,
    )
    await fake_client.submit([{"model": "gpt-5.4", "input": "x"}])
    worker = build_worker(config, redis_pool=fake_redis, transport=httpx.MockTransport(flaky))
    await run_burst(worker)
    assert sample(worker.ctx["respq_metrics"], "respq_retries_total") == 1


async def test_request_logs_are_structured_and_secret_free(
    fake_client: BatchClient,
    queue_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="respq.worker")  # respq's own level may be INFO
    config = WorkerConfig(
        base_url=UPSTREAM,
        api_key=SECRET,
        queue_name=queue_name,
        log_level="DEBUG",
        log_format="json",
    )
    batch = await fake_client.submit(
        [{"model": "gpt-5.4", "input": "ok"}, {"model": "gpt-5.4", "input": "bad"}]
    )
    worker = build_worker(
        config, redis_pool=fake_client.redis, transport=httpx.MockTransport(handler)
    )
    await run_burst(worker)
    mine = [r for r in caplog.records if getattr(r, "batch_id", None) == batch.id]
    by_code: dict[str, Any] = {getattr(r, "code", ""): r for r in mine}
    assert by_code["ok"].levelno == logging.DEBUG
    assert by_code["ok"].custom_id == "line-1"
    assert by_code["model_not_found"].levelno == logging.INFO
    assert by_code["model_not_found"].custom_id == "line-2"
    line = orjson.loads(JsonFormatter().format(by_code["model_not_found"]))
    assert (line["batch_id"], line["custom_id"], line["code"]) == (
        batch.id,
        "line-2",
        "model_not_found",
    )
    formatter = JsonFormatter()
    for record in caplog.records:
        assert SECRET not in formatter.format(record)
    assert SECRET not in caplog.text

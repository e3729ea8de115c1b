"""Batch budgets on fakeredis: reserve before sending, settle after, pause instead of
overspending, resume to continue; nothing at all without a price table."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient, BatchStatus
from respq.contract.errors import BatchStateError
from respq.contract.prices import PriceTable
from respq.worker import WorkerConfig
from respq.worker.budget import Budget, estimate_cost
from respq.worker.retry import DeferRequest

from helpers.factories import response_body
from helpers.polling import wait_until_async
from helpers.workers import build_worker, run_burst

# $1 per million input, $0.5 cached, $2 output: a test response (5 in, 1 cached, 7 out)
# costs (4 + 0.5 + 14) / 1e6 = $18.5e-6.
PRICES = '[models."gpt-5.4"]\ninput = 1.0\ncached_input = 0.5\noutput = 2.0\n'
ACTUAL = 18.5e-6


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


@pytest.fixture
def table(prices_file: Path) -> PriceTable:
    return PriceTable.load(prices_file)


@pytest.fixture(autouse=True)
def _fast_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("respq.worker.budget.PAUSED_RECHECK_S", 0.05)


def test_estimate_prices_input_and_max_output(table: PriceTable) -> None:
    body: dict[str, Any] = {"model": "gpt-5.4", "input": "abcdefgh", "max_output_tokens": 100}
    # 2 input tokens at $1/M + 100 output tokens at $2/M
    assert estimate_cost(table, "gpt-5.4", body, default_max_output_tokens=7) == pytest.approx(
        202e-6
    )
    body.pop("max_output_tokens")
    assert estimate_cost(table, "gpt-5.4", body, default_max_output_tokens=7) == pytest.approx(
        16e-6
    )
    assert estimate_cost(table, "unpriced", body, default_max_output_tokens=7) is None


async def test_disabled_budget_touches_nothing() -> None:
    budget = Budget.disabled()
    held = await budget.hold("batch_x", "gpt-5.4", {"input": "x"})
    async with held:
        assert not held.active


async def test_reserve_settle_and_pause(
    fake_client: BatchClient, fake_redis: FakeRedis, table: PriceTable
) -> None:
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}], max_cost=0.0005)
    budget = Budget(fake_redis, table, default_max_output_tokens=100)
    body = {"model": "gpt-5.4", "input": "abcd"}  # estimate: 1 + 200 = $201e-6
    held = await budget.hold(batch.id, "gpt-5.4", body)
    assert held.active
    info = await batch.status()
    assert info.cost_reserved == pytest.approx(201e-6)
    async with held:
        second = await budget.hold(batch.id, "gpt-5.4", body)  # 402e-6 <= 500e-6
        async with second:
            with pytest.raises(DeferRequest):  # 603e-6 > 500e-6
                await budget.hold(batch.id, "gpt-5.4", body)
            info = await batch.status()
            assert info.status is BatchStatus.PAUSED
            assert info.pause_reason == "budget of $0.0005 reached: $0 spent, $0.000402 in flight"
            assert info.paused_at is not None
        held.spent(None)
    info = await batch.status()
    assert info.cost_reserved == pytest.approx(0, abs=1e-12)
    assert info.cost_spent == 0
    # paused: every request is held back until resumed
    with pytest.raises(DeferRequest):
        await budget.hold(batch.id, "gpt-5.4", body)
    resumed = await batch.resume()
    assert resumed.status is BatchStatus.IN_PROGRESS and resumed.pause_reason is None
    async with await budget.hold(batch.id, "gpt-5.4", body):
        pass
    with pytest.raises(BatchStateError):
        await batch.resume()  # not paused


async def test_batch_without_budget_is_cached(
    fake_client: BatchClient, fake_redis: FakeRedis, table: PriceTable
) -> None:
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}])
    budget = Budget(fake_redis, table)
    calls = 0
    real = budget._scripts["budget"] if budget._scripts else None
    assert real is not None

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real(*args, **kwargs)

    budget._scripts._scripts["budget"] = counting  # type: ignore[union-attr,assignment]
    for _ in range(5):
        async with await budget.hold(batch.id, "gpt-5.4", {"input": "x"}) as held:
            assert not held.active
    assert calls == 1
    assert (await batch.status()).cost_reserved == 0


async def test_worker_pauses_at_budget_then_resume_finishes(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str, prices_file: Path
) -> None:
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json=response_body())

    # each request is estimated at 1 input + 100 output tokens = $201e-6
    items = [{"model": "gpt-5.4", "input": f"q{i}", "max_output_tokens": 100} for i in range(10)]
    batch = await fake_client.submit(items, max_cost=300e-6)
    config = WorkerConfig(
        base_url="http://upstream.test/v1",
        api_key="sk-unit",
        queue_name=queue_name,
        prices=str(prices_file),
        worker_in_flight=1,  # one request at a time: the pause point is exact
        poll_delay=0.01,
    )
    worker = build_worker(config, redis_pool=fake_redis, transport=httpx.MockTransport(handler))
    task = asyncio.create_task(run_burst(worker, timeout=30))

    async def paused() -> bool:
        return (await batch.status()).status is BatchStatus.PAUSED

    await wait_until_async(paused, timeout=10)
    info = await batch.status()
    # spent + 201e-6 <= 300e-6 holds for 6 requests (spent 92.5e-6 before the 6th)
    assert info.request_counts.completed == 6
    assert len(sent) == 6
    assert info.cost_spent == pytest.approx(6 * ACTUAL)
    assert info.cost_spent <= 300e-6
    assert info.pause_reason is not None and info.pause_reason.startswith("budget of $0.0003")
    await asyncio.sleep(0.3)  # paused: nothing more is sent
    assert len(sent) == 6

    await batch.resume(max_cost=1.0)
    await asyncio.wait_for(task, 30)
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.request_counts.completed == 10 and len(sent) == 10
    assert info.cost_spent == pytest.approx(10 * ACTUAL)
    assert info.cost_reserved == pytest.approx(0, abs=1e-12)
    cost = await batch.cost(PriceTable.load(prices_file))
    assert cost.total == pytest.approx(info.cost_spent)


async def test_worker_without_prices_ignores_budget(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=response_body()))
    batch = await fake_client.submit([{"model": "gpt-5.4", "input": "x"}], max_cost=1e-9)
    config = WorkerConfig(base_url="http://upstream.test/v1", queue_name=queue_name)
    await run_burst(build_worker(config, redis_pool=fake_redis, transport=transport))
    info = await batch.status()
    assert info.status is BatchStatus.COMPLETED
    assert info.cost_spent == 0 and info.cost_reserved == 0

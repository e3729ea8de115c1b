"""Costs and budgets from the CLI, against mockapi over HTTP: ``submit --max-cost`` pauses the
batch at its budget, ``respq resume`` raises it and finishes the batch, ``respq status``
shows the cost and ``respq top`` the batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from respq.mockapi import MockConfig, MockServer

from helpers.cli import env_for, invoke
from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.paths import PRICES
from helpers.polling import wait_until
from helpers.workers import burst_worker

pytestmark = pytest.mark.integration

MOCK_KEY = "mock-secret-key"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(seed=3, api_key=MOCK_KEY)) as server:
        yield server


@pytest.fixture
def env(db: Database, queue_name: str, mock: MockServer) -> dict[str, str]:
    return env_for(
        db,
        queue_name,
        RESPQ_BASE_URL=mock.base_url,
        RESPQ_API_KEY=MOCK_KEY,
        RESPQ_PRICES=str(PRICES),
    )


def meta(db: Database, batch_id: str) -> dict[str, str]:
    raw = db.redis.hgetall(f"respq:{{{batch_id}}}:meta")
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_budget_pause_resume_and_cost(
    tmp_path: Path,
    env: dict[str, str],
    db: Database,
    queue_name: str,
    mock: MockServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("respq.worker.budget.PAUSED_RECHECK_S", 0.1)
    path = write_jsonl(tmp_path / "in.jsonl", 12)
    # max_output_tokens 64 at gpt-5.4-mini's $2/M output is $128e-6 per request alone
    result = invoke(["submit", str(path), "--max-cost", "0.00001"], env=env)
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.strip()
    assert float(meta(db, batch_id)["max_cost"]) == pytest.approx(1e-5)

    worker = threading.Thread(
        target=burst_worker,
        args=(db, queue_name, mock.base_url),
        kwargs={"api_key": MOCK_KEY, "prices": str(PRICES), "poll_delay": 0.01},
        daemon=True,
    )
    worker.start()
    wait_until(lambda: meta(db, batch_id).get("status") == "paused", 20, "the pause")
    status = invoke(["status", batch_id], env=env)
    assert status.exit_code == 0
    assert "budget of $1e-05 reached" in status.stdout
    assert meta(db, batch_id).get("completed") == "0"

    resumed = invoke(["resume", batch_id, "--max-cost", "5"], env=env)
    assert resumed.exit_code == 0, resumed.output
    worker.join(60)
    assert not worker.is_alive()

    shape = orjson.loads(invoke(["status", batch_id, "--json"], env=env).stdout)
    assert shape["status"] == "completed"
    assert shape["request_counts"]["completed"] == 12
    cost = shape["cost"]
    assert cost["currency"] == "USD" and cost["unpriced_models"] == []
    assert cost["total"] > 0 and set(cost["by_model"]) == {"gpt-5.4-mini"}
    assert cost["max_cost"] == 5.0
    assert cost["spent"] == pytest.approx(cost["total"])
    assert cost["reserved"] == pytest.approx(0, abs=1e-9)
    table = invoke(["status", batch_id], env=env).stdout
    assert "cost (USD)" in table and "gpt-5.4-mini" in table

    again = invoke(["resume", batch_id], env=env)
    assert again.exit_code == 2 and "not paused" in again.stderr

    top = invoke(["top", "--once"], env=env)
    assert top.exit_code == 0
    assert batch_id in top.stdout and "tokens/min" in top.stdout
    assert "12/12" in top.stdout

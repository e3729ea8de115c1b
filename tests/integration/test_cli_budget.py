"""The issue-8 commands against the real Redis (DB 8) and mockapi over HTTP: submit
--check-models, a budget that pauses the batch then ``respq resume``, cost in ``respq
status``, and ``respq top --once``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from mockapi import MockConfig, MockServer
from producer.models_check import DEFAULT_LISTER

from helpers.cli import (
    burst_worker,
    env_for,
    flush,
    invoke,
    redis_up,
    sync_redis,
    unique_queue,
    wait_for,
    write_jsonl,
)
from helpers.paths import ROOT

pytestmark = pytest.mark.integration

DB = 8

PRICES = ROOT / "examples" / "prices.toml"


@pytest.fixture
def db() -> Iterator[int]:
    if not redis_up():
        pytest.fail("this test needs Redis on 127.0.0.1:6379 (run scripts/ensure-redis)")
    flush(DB)
    DEFAULT_LISTER.clear()
    yield DB
    flush(DB)


@pytest.fixture
def queue() -> str:
    return unique_queue()


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(seed=3, api_key="mock-secret-key")) as server:
        yield server


@pytest.fixture
def env(db: int, queue: str, mock: MockServer) -> dict[str, str]:
    return env_for(
        db,
        queue,
        RESPQ_BASE_URL=mock.base_url,
        RESPQ_API_KEY="mock-secret-key",
        RESPQ_PRICES=str(PRICES),
    )


def meta(db: int, batch_id: str) -> dict[str, str]:
    raw = sync_redis(db).hgetall(f"respq:{{{batch_id}}}:meta")
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_check_models_refuses_unknown_models(tmp_path: Path, env: dict[str, str], db: int) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 4)
    with path.open("ab") as handle:
        for i in (4, 5):
            body = {"model": "gpt-nope", "input": "x"}
            handle.write(orjson.dumps({"custom_id": f"bad-{i}", "body": body}) + b"\n")
    result = invoke(["submit", str(path), "--check-models"], env=env)
    assert result.exit_code == 2, result.output
    assert "line 5 (custom_id 'bad-4'): field 'body.model': unknown model 'gpt-nope'" in (
        result.stderr
    )
    assert "line 6 (custom_id 'bad-5')" in result.stderr
    assert "mock-secret-key" not in result.output
    assert sync_redis(db).dbsize() == 0  # nothing enqueued

    good = write_jsonl(tmp_path / "good.jsonl", 3)
    result = invoke(["submit", str(good), "--check-models"], env=env)
    assert result.exit_code == 0, result.output


def test_budget_pause_resume_and_cost(
    tmp_path: Path,
    env: dict[str, str],
    db: int,
    queue: str,
    mock: MockServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("worker.budget.PAUSED_RECHECK_S", 0.1)
    path = write_jsonl(tmp_path / "in.jsonl", 12)
    # max_output_tokens 64 at gpt-5.4-mini's $2/M output is $128e-6 per request alone
    result = invoke(["submit", str(path), "--max-cost", "0.00001"], env=env)
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.strip()
    assert float(meta(db, batch_id)["max_cost"]) == pytest.approx(1e-5)

    worker = threading.Thread(
        target=burst_worker,
        args=(db, queue, mock.base_url),
        kwargs={"api_key": "mock-secret-key", "prices": str(PRICES), "poll_delay": 0.01},
        daemon=True,
    )
    worker.start()
    wait_for(lambda: meta(db, batch_id).get("status") == "paused", 20, "the pause")
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


def test_top_once_with_no_batches(env: dict[str, str]) -> None:
    result = invoke(["top", "--once"], env={**env, "RESPQ_TPM": "90000"})
    assert result.exit_code == 0
    assert "no batches" in result.stdout and "of RESPQ_TPM 90,000" in result.stdout

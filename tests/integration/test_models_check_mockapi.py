"""The pre-flight model check of ``BatchClient.submit(check_models=True)`` against mockapi's
``GET /models`` over HTTP: unknown models refused before anything is stored, a wrong key
named by its status and never shown."""

from __future__ import annotations

import orjson
import pytest

from respq import BatchClient, InvalidInput
from respq.contract.constants import BatchKeys
from respq.contract.errors import ModelCheckError
from respq.mockapi import MockServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_model_list")]


async def test_submit_check_models_against_mockapi(
    fake_client: BatchClient, mock_upstream: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPQ_BASE_URL", mock_upstream.base_url)
    monkeypatch.setenv("RESPQ_API_KEY", "test-key")
    items = [
        {"model": "gpt-5.4-mini", "input": "a"},
        {"custom_id": "x", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-9"}},
    ]
    items[1]["body"]["input"] = "b"  # type: ignore[index]
    with pytest.raises(InvalidInput) as info:
        await fake_client.submit(items, batch_id="batch_checked", check_models=True)
    (problem,) = info.value.problems
    # the same 0-based item numbers as every other validation error
    assert (problem.where, problem.custom_id, problem.field) == ("item 1", "x", "body.model")
    assert "gpt-9" in problem.message
    assert not await fake_client.redis.exists(BatchKeys("batch_checked").meta)
    batch = await fake_client.submit(items[:1], check_models=True)
    assert (await batch.status()).request_counts.total == 1


async def test_wrong_key_against_mockapi(
    fake_client: BatchClient, mock_upstream: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPQ_BASE_URL", mock_upstream.base_url)
    monkeypatch.setenv("RESPQ_API_KEY", "wrong-secret-key")
    with pytest.raises(ModelCheckError) as info:
        await fake_client.submit([{"model": "gpt-5.4", "input": "a"}], check_models=True)
    assert "401" in str(info.value) and "wrong-secret-key" not in str(info.value)
    assert orjson.dumps(str(info.value))

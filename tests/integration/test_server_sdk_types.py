"""Every object ``respq serve`` returns has every field of the official SDK's type, and
nothing the SDK does not know beyond respq's documented extensions: the raw JSON of
``Batch`` (completed, cancelled, failed validation, and one submitted from Python) and of
``FileObject`` (an upload and an output file), validated strictly with
``helpers.sdk_types``; timestamps are those of events that happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types import Batch, FileObject

from respq import BatchClient

from helpers.factories import write_jsonl
from helpers.polling import wait_until
from helpers.sdk_types import sdk_validate
from helpers.server import ADMIN_KEY, API_KEY, TERMINAL, Stack, sdk, start_batch, upload

pytestmark = pytest.mark.integration

# respq's documented extensions of the Batch object (README: Batch API server).
BATCH_EXTENSIONS = frozenset(
    f"$.{name}"
    for name in (
        "errors_by_code",
        "usage_by_model",
        "incomplete",
        "pause_reason",
        "paused_at",
        "priority",
        "max_in_flight",
        "queue_name",
        "max_cost",
        "cost_spent",
        "cost_reserved",
        "respq_webhook",
        "respq_webhook_deliveries",
        "paused",
        "output_expires_after",
    )
)


def raw(stack: Stack, path: str, key: str = API_KEY) -> dict[str, Any]:
    answer = httpx.get(
        stack.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def strict_batch(data: dict[str, Any]) -> Batch:
    missing = set(Batch.model_fields) - set(data)
    assert not missing, f"Batch fields missing from the JSON: {sorted(missing)}"
    return sdk_validate(Batch, data, allow=BATCH_EXTENSIONS)


def strict_file(data: dict[str, Any]) -> FileObject:
    missing = set(FileObject.model_fields) - set(data)
    assert not missing, f"FileObject fields missing from the JSON: {sorted(missing)}"
    return sdk_validate(FileObject, data)


def ended(stack: Stack, batch_id: str) -> dict[str, Any]:
    wait_until(
        lambda: raw(stack, f"/batches/{batch_id}")["status"] in TERMINAL, 60, f"{batch_id} ends"
    )
    return raw(stack, f"/batches/{batch_id}")


def test_batches_and_files_have_every_sdk_field(stack: Stack, tmp_path: Path) -> None:
    client = sdk(stack)
    file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", 4, model="gpt-5.4-mini"))
    strict_file(raw(stack, f"/files/{file_id}"))
    created = client.batches.create(
        input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
    )
    strict_batch(raw(stack, f"/batches/{created.id}"))
    done = strict_batch(ended(stack, created.id))
    assert done.status == "completed" and done.model == "gpt-5.4-mini"
    assert done.created_at <= (done.in_progress_at or 0) <= (done.finalizing_at or 0)
    assert done.finalizing_at == done.completed_at
    assert (done.cancelled_at, done.expired_at, done.failed_at, done.cancelling_at) == (None,) * 4
    assert done.usage is not None and done.usage.total_tokens > 0
    assert done.usage.input_tokens_details.cached_tokens >= 0
    assert done.output_file_id is not None
    output = strict_file(raw(stack, f"/files/{done.output_file_id}"))
    assert output.purpose == "batch_output"

    bad_path = tmp_path / "bad.jsonl"
    bad_path.write_bytes(b"{not json\n")
    failed_id = start_batch(client, bad_path)
    failed = strict_batch(ended(stack, failed_id))
    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.completed_at is None and failed.in_progress_at is None
    assert failed.errors is not None and failed.errors.data


async def test_a_cancelled_and_a_python_batch_have_every_sdk_field(stack: Stack) -> None:
    async with BatchClient.from_url(stack.db.url, queue_name=stack.queue) as producer:
        ran = await producer.submit(
            [{"model": "gpt-5.4", "input": f"q{i}"} for i in range(3)], completion_window="48h"
        )
        await ran.wait(timeout=60)
    # A queue no worker serves: nothing is in flight when it is cancelled.
    async with BatchClient.from_url(stack.db.url, queue_name="nobody-serves-this") as idle:
        stopped = await idle.submit(
            [{"model": "gpt-4.1", "input": "x"}, {"model": "o4-mini", "input": "y"}]
        )
        await stopped.cancel()
    # Batches made from Python belong to no tenant: an admin key sees them.
    listed = {b["id"]: b for b in raw(stack, "/batches?limit=100", ADMIN_KEY)["data"]}
    python_batch = strict_batch(listed[ran.id])
    assert python_batch.input_file_id == f"file-in-{ran.id}" and python_batch.model == "gpt-5.4"
    assert python_batch.expires_at is not None
    assert python_batch.expires_at == python_batch.created_at + 48 * 3600
    cancelled = strict_batch(raw(stack, f"/batches/{stopped.id}", ADMIN_KEY))
    assert cancelled.status == "cancelled" and cancelled.model == "gpt-4.1"  # the first line's
    assert cancelled.cancelling_at is not None and cancelled.cancelled_at is not None
    assert cancelled.completed_at is None and cancelled.finalizing_at is None
    assert cancelled.request_counts is not None and cancelled.request_counts.failed == 2

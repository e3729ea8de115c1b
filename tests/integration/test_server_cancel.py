"""Cancel as OpenAI does it: ``cancelling`` while the requests in flight finish, then
``cancelled`` with the finished requests' results in the output file and the never-sent
ones as ``batch_cancelled`` lines in the error file; ``request_counts`` count those as
failed, the same in the Batch API and in ``respq status``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from helpers.cli import env_for, invoke
from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.polling import wait_until
from helpers.server import sdk, server_stack, start_batch
from helpers.shapes import jsonl_lines

pytestmark = pytest.mark.integration

N = 40


def test_cancel_finishes_in_flight_requests_then_ends_with_partial_results(
    tmp_path: Path, db: Database
) -> None:
    with server_stack(tmp_path, db, latency=1.0) as stack:
        client = sdk(stack)
        batch_id = start_batch(client, write_jsonl(tmp_path / "in.jsonl", N))
        wait_until(lambda: stack.mock.stats()["requests"] >= 2, 30, "requests in flight upstream")
        cancelling = client.batches.cancel(batch_id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
        wait_until(lambda: client.batches.retrieve(batch_id).status == "cancelled", 30, "cancelled")
        done = client.batches.retrieve(batch_id)
        output = client.files.content(done.output_file_id).text if done.output_file_id else ""
        errors = client.files.content(done.error_file_id).text if done.error_file_id else ""
        sent = stack.mock.stats()["requests"]
        status = invoke(["status", batch_id, "--json"], env=env_for(db, stack.queue))
    counts = done.request_counts
    assert counts is not None
    succeeded, never_sent = jsonl_lines(output), jsonl_lines(errors)
    # Every request sent before the cancel finished and is in the output file; the rest
    # were never sent and are failed with batch_cancelled.
    assert len(succeeded) == sent >= 2
    assert all(line["error"] is None for line in succeeded)
    assert {line["error"]["code"] for line in never_sent} == {"batch_cancelled"}
    assert (counts.total, counts.completed, counts.failed) == (N, sent, N - sent)
    assert done.cancelled_at is not None and done.cancelled_at >= (done.cancelling_at or 0)
    assert done.completed_at is None
    shown = orjson.loads(status.stdout)
    assert shown["status"] == "cancelled"
    assert shown["request_counts"] == {"total": N, "completed": sent, "failed": N - sent}
    assert shown["errors_by_code"] == {"batch_cancelled": N - sent}

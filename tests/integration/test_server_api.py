"""``respq serve`` driven by the official ``openai`` SDK, sync and async, against a real
server process, a real worker and mockapi (on the module's database of the shared Redis)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from respq import BatchClient, ResponsesRequest
from respq.contract.constants import BatchKeys

from helpers.factories import request_line, write_jsonl
from helpers.paths import ROOT
from helpers.polling import wait_until, wait_until_async
from helpers.ports import free_port
from helpers.processes import Managed
from helpers.server import (
    ADMIN_KEY,
    API_KEY,
    OTHER_KEY,
    TERMINAL,
    Stack,
    sdk,
    serve_command,
    server_env,
    upload,
    wait_done,
)
from helpers.shapes import jsonl_lines

pytestmark = pytest.mark.integration


@pytest.fixture
def client(stack: Stack) -> openai.OpenAI:
    return sdk(stack)


def test_sync_sdk_runs_a_batch_end_to_end(client: openai.OpenAI, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 12)
    with path.open("ab") as handle:  # one request the upstream refuses
        handle.write(request_line(99, model="gpt-typo", cid="typo") + b"\n")
    file_id = upload(client, path)
    stored = client.files.retrieve(file_id)
    assert (stored.purpose, stored.bytes, stored.filename) == (
        "batch",
        path.stat().st_size,
        "in.jsonl",
    )
    assert client.files.content(file_id).content == path.read_bytes()

    batch = client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/responses",
        completion_window="24h",
        metadata={"team": "eval"},
    )
    assert batch.status == "validating" and batch.input_file_id == file_id
    done = wait_done(client, batch.id)

    assert done.status == "completed"
    assert done.metadata == {"team": "eval"}
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (13, 12)
    assert done.request_counts.failed == 1
    assert done.usage is not None and done.usage.total_tokens > 0
    assert done.in_progress_at and done.completed_at and done.created_at
    assert done.output_file_id and done.error_file_id

    output = client.files.content(done.output_file_id).text
    assert [line["custom_id"] for line in jsonl_lines(output)] == [f"req-{i}" for i in range(12)]
    assert all(line["response"]["status_code"] == 200 for line in jsonl_lines(output))
    errors = jsonl_lines(client.files.content(done.error_file_id).text)
    assert [line["custom_id"] for line in errors] == ["typo"]
    assert client.files.retrieve(done.output_file_id).bytes == len(output.encode())
    assert client.files.retrieve(done.output_file_id).purpose == "batch_output"
    listed = {f.id for f in client.files.list()}
    assert {file_id, done.output_file_id, done.error_file_id} <= listed


async def test_async_sdk_runs_a_batch_end_to_end(stack: Stack, tmp_path: Path) -> None:
    client = openai.AsyncOpenAI(base_url=stack.base_url, api_key=OTHER_KEY, max_retries=0)
    path = write_jsonl(tmp_path / "in.jsonl", 5)
    stored = await client.files.create(file=path, purpose="batch")
    batch = await client.batches.create(
        input_file_id=stored.id, endpoint="/v1/responses", completion_window="24h"
    )

    async def ended() -> bool:
        return (await client.batches.retrieve(batch.id)).status in TERMINAL

    await wait_until_async(ended, 60, "the batch to end", interval=0.1)
    batch = await client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.error_file_id is None
    assert batch.output_file_id is not None
    content = await client.files.content(batch.output_file_id)
    assert [line["custom_id"] for line in jsonl_lines(content.text)] == [
        f"req-{i}" for i in range(5)
    ]
    deleted = await client.files.delete(stored.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(stored.id)
    await client.close()


def test_batches_list_pages_newest_first(client: openai.OpenAI, tmp_path: Path) -> None:
    file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", 1))
    made = [
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    first = client.batches.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    # The SDK follows `after` from page to page: the same order as one big page, no repeats.
    every = [batch.id for batch in client.batches.list(limit=2)]
    assert every == [batch.id for batch in client.batches.list(limit=100).data]
    assert len(every) == len(set(every)) and set(made) <= set(every)
    # Newest first (same-second batches tie on created_at).
    created = [client.batches.retrieve(bid).created_at for bid in every]
    assert created == sorted(created, reverse=True)
    after = client.batches.list(after=every[0], limit=1)
    assert [batch.id for batch in after.data] == [every[1]]


def test_cancel_ends_the_queued_requests(
    stack: Stack, client: openai.OpenAI, tmp_path: Path
) -> None:
    stack.mock.control(latency=0.3)
    try:
        file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", 40))
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
        )
        wait_until(lambda: client.batches.retrieve(batch.id).status == "in_progress", 30, "running")
        cancelled = client.batches.cancel(batch.id)
        assert cancelled.status in ("cancelling", "cancelled")
        done = wait_done(client, batch.id)
    finally:
        stack.mock.control(latency=0.0)
    assert done.status == "cancelled" and done.cancelled_at and done.cancelling_at
    assert done.request_counts is not None and done.request_counts.failed > 0
    assert done.error_file_id is not None
    codes = {
        line["error"]["code"] for line in jsonl_lines(client.files.content(done.error_file_id).text)
    }
    assert codes == {"batch_cancelled"}
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)


def test_a_wrong_or_missing_key_is_refused(stack: Stack) -> None:
    wrong = openai.OpenAI(base_url=stack.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.batches.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        wrong.files.list()
    assert httpx.get(stack.base_url + "/files", timeout=5).status_code == 401


def test_an_invalid_file_fails_the_batch_with_line_errors(
    stack: Stack, client: openai.OpenAI, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        request_line(1, cid="a")
        + b"\n{not json\n"
        + orjson.dumps(
            {
                "custom_id": "b",
                "method": "POST",
                "url": "/v1/chat",
                "body": {"model": "m", "input": "x"},
            }
        )
        + b"\n"
        + request_line(2, cid="a")
        + b"\n"
    )
    batch = client.batches.create(
        input_file_id=upload(client, path), endpoint="/v1/responses", completion_window="24h"
    )
    done = wait_done(client, batch.id)
    assert done.status == "failed" and done.failed_at
    assert done.errors is not None and done.errors.data is not None
    found = {(e.line, e.code, e.param) for e in done.errors.data}
    assert found == {
        (2, "invalid_json_line", None),
        (3, "invalid_url", "url"),
        (4, "duplicate_custom_id", "custom_id"),
    }
    assert done.output_file_id is None and done.error_file_id is None
    r = stack.db.redis  # nothing was enqueued
    assert r.hget(BatchKeys(batch.id).meta, "total") == b"0"
    # (other tests' jobs may still wait in the module's queue: only this batch's count)
    assert not [job for job in r.zrange(stack.queue, 0, -1) if job.startswith(batch.id.encode())]
    assert r.llen(BatchKeys(batch.id).jobs) == 0


def test_other_purposes_endpoints_and_unknown_ids_are_refused(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 1)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=path.open("rb"), purpose="fine-tune")
    assert caught.value.param == "purpose"
    file_id = upload(client, path)
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(input_file_id=file_id, endpoint="/v1/videos", completion_window="24h")
    assert caught.value.param == "endpoint"
    assert "Videos API shut down" in caught.value.message  # why, and what runs
    assert "/v1/images/edits" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-0000", endpoint="/v1/responses", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-out-batch_nope")
    assert not list(tmp_path.glob("*.part"))


async def test_python_batches_and_api_batches_see_each_other(stack: Stack, tmp_path: Path) -> None:
    # Python's batches have no tenant: an admin key sees them (tenants: test_server_tenants).
    client = openai.OpenAI(base_url=stack.base_url, api_key=ADMIN_KEY, max_retries=0)
    async with BatchClient.from_url(stack.db.url, queue_name=stack.queue, chunk_size=1) as producer:
        made = await producer.submit([ResponsesRequest(model="gpt-5.4-mini", input="hi")])
        await made.wait(timeout=60)
        seen = client.batches.retrieve(made.id)
        assert seen.status == "completed" and seen.output_file_id
        assert made.id in {batch.id for batch in client.batches.list(limit=100)}
        api = client.batches.create(
            input_file_id=upload(client, write_jsonl(tmp_path / "in.jsonl", 2)),
            endpoint="/v1/responses",
            completion_window="24h",
        )
        info = await (await producer.get(api.id)).wait(timeout=60)
        assert info.input_file_id is not None and info.request_counts.completed == 2


def test_serve_refuses_to_start_without_keys_unless_no_auth(stack: Stack, tmp_path: Path) -> None:
    env = server_env(stack.db, "respq-server-test:nokeys", tmp_path / "files")
    del env["RESPQ_SERVER_API_KEYS"], env["RESPQ_SERVER_ADMIN_KEYS"]
    refused = subprocess.run(
        serve_command(free_port()), env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 2
    assert "RESPQ_SERVER_API_KEYS" in refused.stderr
    port = free_port()
    with Managed(serve_command(port, "--no-auth"), env, tmp_path / "open.log") as open_server:
        wait_until(lambda: "dashboard:" in open_server.output(), 30, "start-up banner")
        assert "WITHOUT authentication" in open_server.output()
        assert "token=" not in open_server.output()


def test_the_start_banner_of_a_service_links_the_dashboard_without_a_key(stack: Stack) -> None:
    banner = stack.server.output()  # a log file, not a terminal
    assert f"{stack.root}/v1" in banner and f"{stack.root}/" in banner
    assert "token=" not in banner
    assert all(key not in banner for key in (API_KEY, OTHER_KEY, ADMIN_KEY))

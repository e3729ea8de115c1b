"""Expiry as OpenAI's, through the official SDK against ``respq serve``: an upload's
``expires_after`` sets its ``expires_at`` (30 days by default); a batch's
``output_expires_after`` is echoed and sets its output files' ``expires_at`` from their
creation, and every Redis key of the batch gets that ttl when it ends; out-of-range values
are a 400 naming the parameter; the sweeper removes expired uploads from disk and Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from redis.asyncio import Redis

from respq.contract.constants import FILE_EXPIRY_KEY, FILE_PREFIX, FILES_KEY, BatchKeys
from respq.server.expiry import FileSweeper

from helpers.factories import write_jsonl
from helpers.polling import wait_until
from helpers.server import Stack, sdk

pytestmark = pytest.mark.integration

DAY = 86400


@pytest.fixture
def client(stack: Stack) -> openai.OpenAI:
    return sdk(stack)


def upload(client: openai.OpenAI, path: Path, **extra: Any) -> Any:
    with path.open("rb") as handle:
        return client.files.create(file=handle, purpose="batch", **extra)


def test_uploads_expire_when_asked_and_after_30_days_by_default(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    default = upload(client, path)
    assert default.expires_at == default.created_at + 30 * DAY
    asked = upload(client, path, expires_after={"anchor": "created_at", "seconds": 3600})
    assert asked.expires_at == asked.created_at + 3600
    assert client.files.retrieve(asked.id).expires_at == asked.expires_at
    for bad in ({"anchor": "created_at", "seconds": 60}, {"anchor": "last_used", "seconds": 3600}):
        with pytest.raises(openai.BadRequestError) as caught:
            upload(client, path, expires_after=bad)
        assert caught.value.param == "expires_after"


def test_output_expires_after_sets_the_outputs_expiry_and_the_batch_ttl(
    client: openai.OpenAI, stack: Stack, tmp_path: Path
) -> None:
    file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", 3)).id
    for bad in (3599, 2_592_001, "soon"):
        with pytest.raises(openai.BadRequestError) as caught:
            client.batches.create(
                input_file_id=file_id,
                endpoint="/v1/responses",
                completion_window="24h",
                extra_body={"output_expires_after": {"anchor": "created_at", "seconds": bad}},
            )
        assert caught.value.param == "output_expires_after"
    batch = client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/responses",
        completion_window="24h",
        extra_body={"output_expires_after": {"anchor": "created_at", "seconds": 7200}},
    )
    shown = client.batches.retrieve(batch.id).model_dump()
    assert shown["output_expires_after"] == {"anchor": "created_at", "seconds": 7200}
    wait_until(lambda: client.batches.retrieve(batch.id).status == "completed", 60, "done")
    done = client.batches.retrieve(batch.id)
    assert done.output_file_id is not None
    output = client.files.retrieve(done.output_file_id)
    assert output.expires_at == output.created_at + 7200
    keys = BatchKeys(batch.id)
    for key in (keys.meta, keys.res, keys.order):
        assert 7200 - 60 <= stack.db.redis.ttl(key) <= 7200, key


async def test_the_sweeper_removes_expired_uploads_from_disk_and_redis(
    client: openai.OpenAI, stack: Stack, tmp_path: Path
) -> None:
    kept = upload(client, write_jsonl(tmp_path / "a.jsonl", 1))
    gone = upload(
        client,
        write_jsonl(tmp_path / "b.jsonl", 1),
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    on_disk = stack.files_dir / f"{gone.id}.jsonl"
    assert on_disk.exists()
    redis = Redis.from_url(stack.db.url)
    try:
        sweeper = FileSweeper(redis, stack.files_dir)
        await sweeper.sweep(now=gone.expires_at - 1)  # not yet
        assert on_disk.exists() and client.files.retrieve(gone.id).id == gone.id
        assert await sweeper.sweep(now=gone.expires_at) >= 1
    finally:
        await redis.aclose()
    assert not on_disk.exists()
    assert not stack.db.redis.exists(FILE_PREFIX + gone.id)
    assert stack.db.redis.zscore(FILES_KEY, gone.id) is None
    assert stack.db.redis.zscore(FILE_EXPIRY_KEY, gone.id) is None
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(gone.id)
    assert client.files.retrieve(kept.id).id == kept.id
    assert (stack.files_dir / f"{kept.id}.jsonl").exists()

"""Validate an uploaded file and enqueue it as the batch that names it.

This is ``respq submit``'s pipeline (two streaming passes over the file in
``respq.producer.jsonl_file``, then ``BatchClient.submit_prepared``), run in a thread with
its own event loop and Redis connection: validating a million lines is CPU work that must
not stall the server's event loop. A file that cannot be enqueued ends the batch as
``failed`` with OpenAI's ``errors`` (``respq.server.input_errors``: one per bad line, or
one naming what else went wrong), and nothing is enqueued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from respq.contract.constants import BatchKeys
from respq.contract.endpoints import Endpoint
from respq.contract.errors import BatchStateError, SpoolFull
from respq.contract.status import BatchStatus
from respq.producer.batch import Batch
from respq.producer.client import BatchClient
from respq.producer.ending import end_unsealed
from respq.producer.jsonl_file import check_file, prepared_requests
from respq.producer.settings import ClientSettings
from respq.producer.submission import Submission
from respq.server.input_errors import FILE_FAILURES, file_errors

log = logging.getLogger("respq.server")


@dataclass(frozen=True)
class Job:
    """One batch created through the API, waiting to be validated and enqueued."""

    batch_id: str
    path: Path
    metadata: dict[str, Any]
    completion_window: str
    endpoint: Endpoint  # every line's url must name it


def run_in_thread(settings: ClientSettings, job: Job) -> None:
    """The whole pipeline, in the calling (worker) thread."""
    asyncio.run(_run(settings, job))


async def _run(settings: ClientSettings, job: Job) -> None:
    client = BatchClient.from_url(**settings.model_dump())
    async with client:
        try:
            # CPU-bound, but this loop is private to the pipeline's thread.
            checked = check_file(
                job.path,
                max_request_bytes=settings.max_request_bytes,
                name=job.path.stem,
                endpoint=job.endpoint,
            )
        except FILE_FAILURES as exc:
            if isinstance(exc, SpoolFull):  # the operator's to fix: the log names TMPDIR
                log.error("batch %s: %s", job.batch_id, exc)
            await fail(client, job.batch_id, file_errors(exc))
            return
        keys = BatchKeys(job.batch_id)
        with checked:
            status = await _status(client, keys)
            if status != BatchStatus.VALIDATING:
                if status == BatchStatus.CANCELLING:
                    await finish_cancelled(client, job.batch_id, job.completion_window)
                return
            submission = Submission(
                batch_id=job.batch_id,
                metadata=job.metadata,
                completion_window=job.completion_window,
                endpoint=checked.endpoint,
            )
            await client.submit_prepared(prepared_requests(checked), submission)
        if await _status(client, keys) == BatchStatus.CANCELLING:
            # Cancelled while being enqueued: end whatever was queued after the cancel.
            with contextlib.suppress(BatchStateError):
                await Batch(client, job.batch_id).cancel()


async def _status(client: BatchClient, keys: BatchKeys) -> str | None:
    raw = await client.redis.hget(keys.meta, "status")  # type: ignore[misc]
    return raw.decode() if raw else None


async def finish_cancelled(client: BatchClient, batch_id: str, completion_window: str) -> None:
    """End a batch cancelled before it was sealed, as workers end a cancelled batch's
    requests: every request without a result ends as ``batch_cancelled`` (cancel.lua),
    then the seal finds them all done and the batch ends ``cancelled``. Nothing of an
    unsealed batch was dispatched, so nothing is in flight."""
    with contextlib.suppress(BatchStateError):  # it ended meanwhile
        await Batch(client, batch_id).cancel()
    await client.seal(batch_id, completion_window)


async def fail(client: BatchClient, batch_id: str, errors: dict[str, Any]) -> None:
    """End the batch as ``failed`` with OpenAI's ``errors`` object; nothing was queued."""
    if await end_unsealed(client, batch_id, BatchStatus.FAILED, errors):
        log.info("batch %s failed validation (%d errors)", batch_id, len(errors["data"]))

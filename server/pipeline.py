"""Validate an uploaded file and enqueue it as the batch that names it.

This is ``respq submit``'s pipeline (two streaming passes over the file, the producer's
validator, ``BatchClient.submit_prepared``), run in a thread with its own event loop and
Redis connection: validating a million lines is CPU work that must not stall the server's
event loop. An invalid file ends the batch as ``failed`` with one error per bad line, and
nothing is enqueued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from contract.constants import BatchKeys
from contract.endpoints import Endpoint
from contract.status import BatchStatus
from producer.batch import Batch
from producer.cli.app import CliError
from producer.cli.jsonl import check_file, prepared_requests
from producer.client import BatchClient
from producer.errors import BatchStateError, InvalidInput
from producer.settings import ClientSettings
from server.input_errors import batch_errors, single_error

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
                job.path, max_request_bytes=settings.max_request_bytes, endpoint=job.endpoint
            )
        except InvalidInput as exc:
            await fail(client, job.batch_id, batch_errors(exc))
            return
        except CliError:  # no request in the file
            await fail(client, job.batch_id, single_error("empty_file", "The file is empty."))
            return
        except OSError as exc:
            await fail(client, job.batch_id, single_error("file_unreadable", str(exc)))
            return
        keys = BatchKeys(job.batch_id)
        with checked:
            if await _status(client, keys) != BatchStatus.VALIDATING:
                await _close_cancelled(client, keys)
                return
            await client.submit_prepared(
                prepared_requests(checked),
                batch_id=job.batch_id,
                metadata=job.metadata,
                completion_window=job.completion_window,
                endpoint=checked.endpoint,
            )
        if await _status(client, keys) == BatchStatus.CANCELLING:
            # Cancelled while being enqueued: end whatever was queued after the cancel.
            with contextlib.suppress(BatchStateError):
                await Batch(client, job.batch_id).cancel()


async def _status(client: BatchClient, keys: BatchKeys) -> str | None:
    raw = await client.redis.hget(keys.meta, "status")  # type: ignore[misc]
    return raw.decode() if raw else None


async def _close_cancelled(client: BatchClient, keys: BatchKeys) -> None:
    """A batch cancelled before anything was enqueued ends as cancelled at once."""
    now = int(time.time())
    pipe = client.redis.pipeline(transaction=True)
    pipe.hset(
        keys.meta,
        mapping={"status": "cancelled", "cancelled_at": now, "completed_at": now, "sealed": 1},
    )
    for key in keys.all():
        pipe.expire(key, client.settings.result_ttl)
    await pipe.execute()


async def fail(client: BatchClient, batch_id: str, errors: dict[str, Any]) -> None:
    """End the batch as ``failed`` with OpenAI's ``errors`` object; nothing was queued."""
    keys = BatchKeys(batch_id)
    now = int(time.time())
    pipe = client.redis.pipeline(transaction=True)
    pipe.hset(
        keys.meta,
        mapping={"status": "failed", "failed_at": now, "errors": orjson.dumps(errors), "sealed": 1},
    )
    for key in keys.all():
        pipe.expire(key, client.settings.result_ttl)
    await pipe.execute()
    log.info("batch %s failed validation (%d errors)", batch_id, len(errors["data"]))

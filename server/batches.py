"""The Batches API: create (validate + enqueue in the background), retrieve, list, cancel.

Every batch in Redis is visible here, however it was made (``respq submit``, Python, or
``POST /v1/batches``); batch objects are ``BatchInfo.openai_shape()``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from contract.constants import BATCHES_KEY, FILES_KEY, BatchKeys
from contract.endpoints import ENDPOINTS, Endpoint, UnknownEndpoint, endpoint_named
from contract.status import BatchStatus
from producer.batch import Batch
from producer.batch_info import BatchInfo
from producer.client import BatchClient, new_batch_id
from producer.errors import BatchNotFound, BatchStateError
from producer.settings import parse_window
from server.errors import BadRequest, NotFound
from server.files import FileStore, page
from server.input_errors import single_error
from server.pipeline import Job, fail, run_in_thread

log = logging.getLogger("respq.server")

MAX_METADATA_PAIRS = 16


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise BadRequest(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string", param=name, code="invalid_type")
    return value


def _endpoint(name: str) -> Endpoint:
    """The batch's endpoint: one of OpenAI's that respq runs (a 400 naming them else)."""
    try:
        return endpoint_named(name)
    except UnknownEndpoint:
        raise BadRequest(
            f"endpoint {name!r} is not supported; use one of {', '.join(ENDPOINTS)}",
            param="endpoint",
            code="invalid_value",
        ) from None


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_PAIRS:
        raise BadRequest(
            f"metadata must be an object of at most {MAX_METADATA_PAIRS} string pairs",
            param="metadata",
        )
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequest("metadata keys and values must be strings", param="metadata")
    return dict(value)


class BatchService:
    """Batch objects over the producer client; background validation of new batches."""

    def __init__(self, client: BatchClient, files: FileStore) -> None:
        self.client = client
        self.files = files
        self._jobs: set[asyncio.Task[None]] = set()

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        input_file_id = _required(body, "input_file_id")
        endpoint = _endpoint(_required(body, "endpoint"))
        window = _required(body, "completion_window")
        try:
            parse_window(window)  # a bad window is a 400 here, not a failed batch later
        except ValueError as exc:
            raise BadRequest(str(exc), param="completion_window", code="invalid_value") from None
        metadata = _metadata(body.get("metadata"))
        path = await self.files.input_path(input_file_id)
        batch_id = new_batch_id()
        await self._create_record(batch_id, input_file_id, metadata, window, endpoint)
        self.start(Job(batch_id, path, metadata, window, endpoint))
        return await self.retrieve(batch_id)

    async def _create_record(
        self,
        batch_id: str,
        input_file_id: str,
        metadata: dict[str, Any],
        window: str,
        endpoint: Endpoint,
    ) -> None:
        """The batch record, in ``validating``, before a line is read; the submit that
        follows finds it there."""
        await self.client.create_record(
            batch_id, metadata=metadata, completion_window=window, endpoint=endpoint
        )
        await self.client.redis.hset(  # type: ignore[misc]
            BatchKeys(batch_id).meta, "input_file_id", input_file_id
        )

    def start(self, job: Job) -> None:
        task = asyncio.create_task(self._pipeline(job), name=f"validate {job.batch_id}")
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _pipeline(self, job: Job) -> None:
        try:
            await asyncio.to_thread(run_in_thread, self.client.settings, job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("batch %s: validation or enqueue failed", job.batch_id)
            await fail(self.client, job.batch_id, single_error("server_error", str(exc)))

    async def drain(self) -> None:
        """Let running pipelines finish (server shutdown)."""
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    # -- read -----------------------------------------------------------------

    async def info(self, batch_id: str) -> BatchInfo:
        try:
            return await Batch(self.client, batch_id).status()
        except BatchNotFound:
            raise NotFound(f"No such Batch object: {batch_id}", param="batch_id") from None

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        info = await self.info(batch_id)
        await self._register_outputs([info])
        return info.openai_shape()

    async def _register_outputs(self, infos: list[BatchInfo]) -> None:
        """Ended batches' output and error files join the files index (GET /v1/files)."""
        ended = {
            file_id: info.completed_at or info.created_at or 0
            for info in infos
            for file_id in (info.output_file_id, info.error_file_id)
            if file_id
        }
        if ended:
            await self.client.redis.zadd(FILES_KEY, ended, nx=True)

    async def infos(self, after: str | None, limit: int) -> tuple[list[BatchInfo], bool]:
        """Up to ``limit`` batches after ``after``, newest first; and whether more exist."""
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be between 1 and 100", param="limit")
        redis = self.client.redis
        start = 0
        if after:
            rank = await redis.zrevrank(BATCHES_KEY, after)
            if rank is None:
                raise NotFound(f"No such Batch object: {after}", param="after")
            start = int(rank) + 1
        ids = await redis.zrevrange(BATCHES_KEY, start, start + limit)
        pipe = redis.pipeline(transaction=False)
        for raw in ids:
            keys = BatchKeys(raw.decode())
            pipe.hgetall(keys.meta)
            pipe.hlen(keys.inflight)
        answers = await pipe.execute()
        infos = [
            BatchInfo.from_meta(meta, in_flight=int(inflight))
            for meta, inflight in zip(answers[::2], answers[1::2], strict=True)
            if meta
        ]
        return infos[:limit], len(ids) > limit

    async def list(self, after: str | None, limit: int) -> dict[str, Any]:
        infos, more = await self.infos(after, limit)
        await self._register_outputs(infos)
        data = [info.openai_shape() for info in infos]
        listing = page(data, limit)
        listing["has_more"] = more
        return listing

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        info = await self.info(batch_id)
        if info.is_terminal or info.status == BatchStatus.CANCELLING:
            if info.status == BatchStatus.CANCELLING:
                return info.openai_shape()
            raise BadRequest(
                f"Cannot cancel a batch with status '{info.status}'.",
                param="batch_id",
                code="batch_not_cancellable",
            )
        try:
            return (await Batch(self.client, batch_id).cancel()).openai_shape()
        except BatchStateError as exc:
            raise BadRequest(str(exc), param="batch_id", code="batch_not_cancellable") from None

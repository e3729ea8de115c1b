"""The Batches API: create (validate + enqueue in the background), retrieve, list, cancel.

A batch made with ``POST /v1/batches`` belongs to the creating key's tenant, and only that
tenant (and admin keys) can see it: to anyone else it answers exactly as an unknown id.
Batches of ``respq submit`` and Python have no tenant: admin keys see them. Batch
objects are ``BatchInfo.openai_shape()``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from respq.contract.constants import (
    BATCHES_KEY,
    FILES_KEY,
    OUTPUT_EXPIRES_FIELD,
    WEBHOOK_URL_FIELD,
    BatchKeys,
    tenant_batches_key,
    tenant_files_key,
)
from respq.contract.endpoints import Endpoint, endpoint_named
from respq.contract.errors import (
    BadRequest,
    BatchNotFound,
    BatchStateError,
    InvalidOption,
    NotFound,
    UnknownEndpoint,
)
from respq.contract.status import BatchStatus
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.client import BatchClient, new_batch_id
from respq.producer.settings import parse_window
from respq.server.auth import Principal, visible
from respq.server.expiry import expires_after
from respq.server.files import FileStore, page
from respq.server.input_errors import single_error
from respq.server.pipeline import Job, fail, run_in_thread
from respq.server.webhook_param import WEBHOOK_PARAM, webhook_param

log = logging.getLogger("respq.server")

# OpenAI's limits on a batch's metadata: every batch object carries it, so an unbounded
# one makes every list response as large as the largest metadata.
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512


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
    except UnknownEndpoint as exc:
        raise BadRequest(str(exc), param="endpoint", code="invalid_value") from None


def _metadata(value: Any) -> dict[str, str]:
    """OpenAI's rule: at most 16 pairs of strings, keys up to 64 and values up to 512
    characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad_metadata("Invalid type for 'metadata': expected an object of string pairs.")
    if len(value) > MAX_METADATA_PAIRS:
        raise _bad_metadata(
            f"Invalid 'metadata': at most {MAX_METADATA_PAIRS} pairs, got {len(value)}.",
            "invalid_value",
        )
    for key, item in value.items():
        if not isinstance(item, str):
            name = key[:MAX_METADATA_KEY_CHARS]
            raise _bad_metadata(f"Invalid type for 'metadata.{name}': expected a string.")
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise _bad_metadata(
                f"Invalid 'metadata': a key is {len(key)} characters long, the limit is "
                f"{MAX_METADATA_KEY_CHARS}.",
                "invalid_value",
            )
        if len(item) > MAX_METADATA_VALUE_CHARS:
            raise _bad_metadata(
                f"Invalid 'metadata.{key}': the value is {len(item)} characters long, the "
                f"limit is {MAX_METADATA_VALUE_CHARS}.",
                "invalid_value",
            )
    return dict(value)


def _bad_metadata(message: str, code: str = "invalid_type") -> BadRequest:
    return BadRequest(message, param="metadata", code=code)


class BatchService:
    """Batch objects over the producer client; background validation of new batches."""

    def __init__(self, client: BatchClient, files: FileStore) -> None:
        self.client = client
        self.files = files
        self._jobs: set[asyncio.Task[None]] = set()

    async def create(self, viewer: Principal, body: dict[str, Any]) -> dict[str, Any]:
        input_file_id = _required(body, "input_file_id")
        endpoint = _endpoint(_required(body, "endpoint"))
        window = _required(body, "completion_window")
        try:
            parse_window(window)  # a bad window is a 400 here, not a failed batch later
        except InvalidOption as exc:
            raise BadRequest(str(exc), param="completion_window", code="invalid_value") from None
        metadata = _metadata(body.get("metadata"))
        webhook = await webhook_param(self.client, body.get(WEBHOOK_PARAM))
        outputs_ttl = expires_after(body.get("output_expires_after"), "output_expires_after")
        path = await self.files.input_path(viewer, input_file_id)
        batch_id = new_batch_id()
        await self._create_record(
            viewer, batch_id, input_file_id, metadata, window, endpoint, webhook, outputs_ttl
        )
        self.start(Job(batch_id, path, metadata, window, endpoint))
        return await self.retrieve(viewer, batch_id)

    async def _create_record(
        self,
        viewer: Principal,
        batch_id: str,
        input_file_id: str,
        metadata: dict[str, Any],
        window: str,
        endpoint: Endpoint,
        webhook: str | None = None,
        outputs_ttl: int | None = None,
    ) -> None:
        """The batch record, in ``validating`` and owned by ``viewer``'s tenant, before a
        line is read; the submit that follows finds it there."""
        await self.client.create_record(
            batch_id,
            metadata=metadata,
            completion_window=window,
            tenant=viewer.tenant,
            endpoint=endpoint,
        )
        await self.client.redis.hset(  # type: ignore[misc]
            BatchKeys(batch_id).meta,
            mapping={
                "input_file_id": input_file_id,
                **({WEBHOOK_URL_FIELD: webhook} if webhook else {}),
                **({OUTPUT_EXPIRES_FIELD: outputs_ttl} if outputs_ttl else {}),
            },
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
            # The client sees the kind of failure; the details (paths included) stay in
            # the server's log.
            reason = (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__
            message = f"The server could not validate or enqueue this batch ({reason})."
            await fail(self.client, job.batch_id, single_error("server_error", message))

    async def drain(self) -> None:
        """Let running pipelines finish (server shutdown)."""
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    # -- read -----------------------------------------------------------------

    async def info(self, viewer: Principal, batch_id: str) -> BatchInfo:
        """The batch, if ``viewer`` may see it; else the same NotFound as for no batch."""
        try:
            info = await Batch(self.client, batch_id).status()
        except BatchNotFound:
            info = None
        if info is None or not visible(viewer, info.tenant):
            raise NotFound(f"No such Batch object: {batch_id}", param="batch_id")
        return info

    async def retrieve(self, viewer: Principal, batch_id: str) -> dict[str, Any]:
        info = await self.info(viewer, batch_id)
        await self._register_outputs([info])
        return info.openai_shape()

    async def _register_outputs(self, infos: list[BatchInfo]) -> None:
        """Ended batches' output and error files join the files index (GET /v1/files)."""
        ended = {
            file_id: (info.tenant, info.completed_at or info.created_at or 0)
            for info in infos
            for file_id in (info.output_file_id, info.error_file_id)
            if file_id
        }
        if not ended:
            return
        pipe = self.client.redis.pipeline(transaction=False)
        pipe.zadd(FILES_KEY, {f: at for f, (_, at) in ended.items()}, nx=True)
        for file_id, (tenant, at) in ended.items():
            if tenant:
                pipe.zadd(tenant_files_key(tenant), {file_id: at}, nx=True)
        await pipe.execute()

    async def infos(
        self, viewer: Principal, after: str | None, limit: int
    ) -> tuple[list[BatchInfo], bool]:
        """Up to ``limit`` of ``viewer``'s batches after ``after``, newest first; and
        whether more exist. A tenant's are read from its own index, not filtered from all."""
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be between 1 and 100", param="limit")
        redis = self.client.redis
        index = BATCHES_KEY if viewer.admin else tenant_batches_key(viewer.tenant or "")
        start = 0
        if after:
            rank = await redis.zrevrank(index, after)
            if rank is None:
                raise NotFound(f"No such Batch object: {after}", param="after")
            start = int(rank) + 1
        ids = await redis.zrevrange(index, start, start + limit)
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
        gone = [raw for raw, meta in zip(ids, answers[::2], strict=True) if not meta]
        if gone:  # expired batches leave their index entries behind
            await redis.zrem(index, *gone)
        infos = [info for info in infos if visible(viewer, info.tenant)]
        return infos[:limit], len(ids) > limit

    async def list(self, viewer: Principal, after: str | None, limit: int) -> dict[str, Any]:
        infos, more = await self.infos(viewer, after, limit)
        await self._register_outputs(infos)
        data = [info.openai_shape() for info in infos]
        listing = page(data, limit)
        listing["has_more"] = more
        return listing

    async def cancel(self, viewer: Principal, batch_id: str) -> dict[str, Any]:
        info = await self.info(viewer, batch_id)
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

"""The Files API's store: uploads on disk, their records in Redis, batch outputs read lazily.

An uploaded file is written once under ``files_dir`` as ``<file_id>.jsonl``; its record
(``respq:file:<id>``) and the ``respq:files`` index live in Redis. A batch's output and
error files are not copies: ``file-out-<B>`` / ``file-err-<B>`` are streamed from the
batch's stored result lines in input order whenever they are downloaded (see
``bench/server.py`` for why: first byte at once, flat memory, no second copy on disk).

A file belongs to the tenant that uploaded it (an output file to its batch's tenant) and
is listed in that tenant's index too; every method that names a file takes the ``viewer``
and answers a file it may not see exactly as one that does not exist.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from respq.contract.constants import (
    ERROR_FILE_PREFIX,
    FILE_EXPIRY_KEY,
    FILE_PREFIX,
    FILES_KEY,
    OUTPUT_FILE_PREFIX,
    TENANT_FIELD,
    tenant_files_key,
)
from respq.contract.errors import BadRequest, BatchNotFound, NotFound
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.client import BatchClient
from respq.server.auth import Principal, visible
from respq.server.batch_inputs import InputFile, input_object, refuse_delete
from respq.server.expiry import upload_expires_at
from respq.server.upload import receive_upload, storage_error

PURPOSE_BATCH = "batch"
PURPOSE_OUTPUT = "batch_output"


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def is_output_line(raw: bytes) -> bool:
    """OpenAI's split: a line with an HTTP 2xx ``response`` goes to the output file; every
    other line (``error`` set, or a 4xx/5xx ``response``) goes to the error file."""
    response = orjson.loads(raw).get("response")
    if not isinstance(response, dict):
        return False
    code = response.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


CHUNK_BYTES = 256 * 1024


async def batch_lines(batch: Batch, *, output: bool) -> AsyncIterator[bytes]:
    """The output (or error) file of ``batch`` in input order, in chunks of ~256 KiB."""
    parts: list[bytes] = []
    size = 0
    async for line in batch.result_lines():
        if is_output_line(line) != output:
            continue
        line = line.rstrip(b"\n") + b"\n"
        parts.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)


@dataclass(frozen=True)
class OutputFile:
    """A batch's output or error file, named by the batch."""

    batch_id: str
    output: bool

    @property
    def id(self) -> str:
        return (OUTPUT_FILE_PREFIX if self.output else ERROR_FILE_PREFIX) + self.batch_id

    def id_in(self, info: BatchInfo) -> str | None:
        """This file's id as the batch object shows it: None until the batch has ended."""
        return info.output_file_id if self.output else info.error_file_id

    @classmethod
    def parse(cls, file_id: str) -> OutputFile | None:
        for prefix, output in ((OUTPUT_FILE_PREFIX, True), (ERROR_FILE_PREFIX, False)):
            if file_id.startswith(prefix) and len(file_id) > len(prefix):
                return cls(file_id[len(prefix) :], output)
        return None


def files_index(viewer: Principal) -> str:
    """The files ``viewer`` lists: every file for an admin, else its tenant's."""
    return FILES_KEY if viewer.admin else tenant_files_key(viewer.tenant or "")


class FileStore:
    """Uploaded files and batch output files, in OpenAI's file-object shape."""

    def __init__(self, client: BatchClient, files_dir: Path, max_upload_bytes: int) -> None:
        self.client = client
        self.redis: Redis = client.redis
        self.files_dir = files_dir
        self.max_upload_bytes = max_upload_bytes
        files_dir.mkdir(parents=True, exist_ok=True)

    def path(self, file_id: str) -> Path:
        return self.files_dir / f"{file_id}.jsonl"

    def remove_partial_uploads(self) -> int:
        """Remove the ``.part`` files of uploads a stopped server was receiving (at start,
        when no upload of this server is running); returns how many."""
        removed = 0
        for partial in self.files_dir.glob("*.part"):
            partial.unlink(missing_ok=True)
            removed += 1
        return removed

    # -- uploads --------------------------------------------------------------

    async def upload(
        self, viewer: Principal, content_type: str, body: AsyncIterator[bytes]
    ) -> dict[str, Any]:
        file_id = new_file_id()
        final = self.path(file_id)
        partial = final.with_suffix(".part")
        upload = await receive_upload(content_type, body, partial, self.max_upload_bytes)
        purpose = upload.fields.get("purpose")
        if purpose != PURPOSE_BATCH:
            partial.unlink(missing_ok=True)
            raise BadRequest(
                f"purpose {purpose!r} is not supported: this server stores batch input "
                "files only (purpose 'batch')",
                param="purpose",
            )
        created_at = int(time.time())
        try:
            expires_at = upload_expires_at(upload.fields, created_at)
        except BadRequest:
            partial.unlink(missing_ok=True)
            raise
        try:
            partial.rename(final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise storage_error(exc) from None
        record: dict[str, str | int] = {
            "id": file_id,
            "object": "file",
            "bytes": upload.size,
            "created_at": created_at,
            "filename": upload.filename or "upload.jsonl",
            "purpose": PURPOSE_BATCH,
            "status": "processed",
            TENANT_FIELD: viewer.tenant or "",
            **({"expires_at": expires_at} if expires_at else {}),
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(FILE_PREFIX + file_id, mapping=record)
        pipe.zadd(FILES_KEY, {file_id: record["created_at"]})
        if viewer.tenant:
            pipe.zadd(tenant_files_key(viewer.tenant), {file_id: record["created_at"]})
        if expires_at:
            pipe.zadd(FILE_EXPIRY_KEY, {file_id: expires_at})
        await pipe.execute()
        return _shape(record)

    async def input_path(self, viewer: Principal, file_id: str) -> Path:
        """The on-disk path of an uploaded batch input file; NotFound / BadRequest."""
        record = await self._record(viewer, file_id)
        if record is None or OutputFile.parse(file_id):
            raise NotFound(f"No such File object: {file_id}", param="input_file_id")
        if record.get("purpose") != PURPOSE_BATCH:
            raise BadRequest(f"file {file_id} does not have purpose 'batch'", param="input_file_id")
        path = self.path(file_id)
        if not path.is_file():
            raise NotFound(f"the bytes of {file_id} are missing from the files directory")
        return path

    # -- look up --------------------------------------------------------------

    async def _record(self, viewer: Principal, file_id: str) -> dict[str, str] | None:
        """An uploaded file's record; None when there is none or ``viewer`` may not see it."""
        raw = await self.redis.hgetall(FILE_PREFIX + file_id)  # type: ignore[misc]
        record = {k.decode(): v.decode() for k, v in raw.items()}
        if not record or not visible(viewer, record.get(TENANT_FIELD) or None):
            return None
        return record

    async def retrieve(self, viewer: Principal, file_id: str) -> dict[str, Any]:
        if (rebuilt := InputFile.parse(file_id)) is not None:
            return await input_object(self.client, viewer, rebuilt)
        out = OutputFile.parse(file_id)
        if out is not None:
            return await self._output_object(viewer, out)
        record = await self._record(viewer, file_id)
        if record is None:
            raise NotFound(f"No such File object: {file_id}", param="id")
        return _shape(record)

    async def list(
        self, viewer: Principal, *, after: str | None, limit: int, order: str, purpose: str | None
    ) -> dict[str, Any]:
        """A page of ``viewer``'s files in OpenAI's list shape, ``order`` by created_at."""
        index = files_index(viewer)
        if not 1 <= limit <= 10000:
            raise BadRequest("limit must be between 1 and 10000", param="limit")
        if order not in ("asc", "desc"):
            raise BadRequest("order must be 'asc' or 'desc'", param="order")
        rank = 0
        if after:
            found = await (
                self.redis.zrevrank(index, after)
                if order == "desc"
                else self.redis.zrank(index, after)
            )
            if found is None:
                raise NotFound(f"No such File object: {after}", param="after")
            rank = int(found) + 1
        data: list[dict[str, Any]] = []
        while len(data) <= limit:
            page_size = limit + 1
            read = self.redis.zrevrange if order == "desc" else self.redis.zrange
            ids = await read(index, rank, rank + page_size - 1)
            if not ids:
                break
            rank += len(ids)
            for raw in ids:
                try:
                    item = await self.retrieve(viewer, raw.decode())
                except NotFound:  # expired with its batch: tidy the index
                    await self.redis.zrem(index, raw)
                    continue
                if purpose is None or item["purpose"] == purpose:
                    data.append(item)
        return page(data, limit)

    async def delete(self, viewer: Principal, file_id: str) -> dict[str, Any]:
        if (rebuilt := InputFile.parse(file_id)) is not None:
            await refuse_delete(self.client, viewer, rebuilt)
        out = OutputFile.parse(file_id)
        if out is not None:
            await self._output_batch(viewer, out)  # NotFound first, as for any unknown file
            raise BadRequest(
                "a batch's output and error files live as long as the batch's results "
                f"(RESPQ_RESULT_TTL); {file_id} cannot be deleted on its own",
                param="file_id",
            )
        record = await self._record(viewer, file_id)
        if record is None:
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(FILE_PREFIX + file_id)
        pipe.zrem(FILES_KEY, file_id)
        if record.get(TENANT_FIELD):
            pipe.zrem(tenant_files_key(record[TENANT_FIELD]), file_id)
        deleted = (await pipe.execute())[0]
        if not deleted:  # deleted by another request since it was read
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        self.path(file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    # -- batch output files ---------------------------------------------------

    async def _output_batch(self, viewer: Principal, out: OutputFile) -> tuple[Batch, BatchInfo]:
        try:
            batch = await self.client.get(out.batch_id)
            info = await batch.status()
            if not visible(viewer, info.tenant):
                raise BatchNotFound(out.batch_id)
        except BatchNotFound:
            raise NotFound(f"No such File object: {out.id}", param="file_id") from None
        if out.id_in(info) is None:
            raise NotFound(f"No such File object: {out.id} (the batch has not ended)")
        return batch, info

    async def _output_object(self, viewer: Principal, out: OutputFile) -> dict[str, Any]:
        """The file object; its size is counted once per state of the batch, then cached."""
        batch, info = await self._output_batch(viewer, out)
        key = FILE_PREFIX + out.id
        snapshot = f"{info.status}:{info.request_counts.completed}:{info.request_counts.failed}"
        cached = await self.redis.hmget(key, ["snapshot", "bytes"])  # type: ignore[misc]
        if cached[0] is not None and cached[0].decode() == snapshot:
            size = int(cached[1])
        else:
            size = 0
            async for chunk in batch_lines(batch, output=out.output):
                size += len(chunk)
        created = info.completed_at or info.created_at or int(time.time())
        record = {
            "id": out.id,
            "object": "file",
            "bytes": size,
            "created_at": created,
            "filename": f"{out.batch_id}_{'output' if out.output else 'error'}.jsonl",
            "purpose": PURPOSE_OUTPUT,
            "status": "processed",
            "batch_id": out.batch_id,
            "snapshot": snapshot,
            **(
                {"expires_at": created + info.output_expires_after}
                if info.output_expires_after
                else {}
            ),
        }
        if cached[0] is None or cached[0].decode() != snapshot:
            ttl = await self.redis.ttl(batch.keys.meta)
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key, mapping=record)
            if int(ttl) > 0:
                pipe.expire(key, int(ttl))
            pipe.zadd(FILES_KEY, {out.id: created}, nx=True)
            if info.tenant:
                pipe.zadd(tenant_files_key(info.tenant), {out.id: created}, nx=True)
            await pipe.execute()
        return _shape(record)

    async def output_content(self, viewer: Principal, out: OutputFile) -> AsyncIterator[bytes]:
        batch, _ = await self._output_batch(viewer, out)
        return batch_lines(batch, output=out.output)


def _shape(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "object": "file",
        "bytes": int(record["bytes"]),
        "created_at": int(record["created_at"]),
        "expires_at": int(record["expires_at"]) if record.get("expires_at") else None,
        "filename": record["filename"],
        "purpose": record["purpose"],
        "status": record.get("status", "processed"),
        "status_details": None,
    }


def page(data: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """OpenAI's cursor-page shape from up to ``limit + 1`` items."""
    shown = data[:limit]
    return {
        "object": "list",
        "data": shown,
        "first_id": shown[0]["id"] if shown else None,
        "last_id": shown[-1]["id"] if shown else None,
        "has_more": len(data) > limit,
    }

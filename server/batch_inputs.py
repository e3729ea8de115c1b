"""The input file of a batch made without one (``respq submit``, Python): ``file-in-<B>``.

OpenAI's batch object always names its input file (the official SDK's ``Batch`` type
requires the id), so every such batch shows ``file-in-<B>`` (``BatchInfo.api_input_file_id``)
and the Files API serves it. It is not stored: each download rebuilds it, in input order,
as OpenAI batch input lines ``{"custom_id", "method", "url", "body"}`` (plus
``depends_on`` for a chained request) from what Redis keeps of the batch's requests
(``respq:{B}:order``, ``:req``, ``:parent``).

Redis keeps a request's body until the request succeeds: the write-back then empties it,
to hold memory per finished request down (README: Performance). So the file holds every
request still to run or retry — all of them until the first success, and always the
queued, paused and failed ones — and leaves out those that succeeded, whose results are in
the output file. The file object says how many it leaves out (``status_details``).
Keeping every body for the batch's life would double what a finished batch costs in Redis
to serve a file OpenAI users rarely read back; this choice validates and costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from respq.contract.constants import INPUT_FILE_PREFIX
from respq.contract.errors import BadRequest, BatchNotFound, NotFound
from respq.producer.batch import PAGE, Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.client import BatchClient
from respq.server.auth import Principal, visible

# Every line is this frame around its custom_id, url, body and depends_on (JSON-encoded).
_FRAME_BYTES: Final = len(b'{"custom_id":,"method":"POST","url":,"body":}\n')
_PARENT_BYTES: Final = len(b',"depends_on":')


@dataclass(frozen=True)
class InputFile:
    """The rebuilt input file of batch ``batch_id``."""

    batch_id: str

    @property
    def id(self) -> str:
        return INPUT_FILE_PREFIX + self.batch_id

    @classmethod
    def parse(cls, file_id: str) -> InputFile | None:
        if file_id.startswith(INPUT_FILE_PREFIX) and len(file_id) > len(INPUT_FILE_PREFIX):
            return cls(file_id[len(INPUT_FILE_PREFIX) :])
        return None

    async def batch(self, client: BatchClient, viewer: Principal) -> tuple[Batch, BatchInfo]:
        """The batch, if ``viewer`` may see it and it has no uploaded input file of its own
        (else this id is not one the API ever showed it): NotFound otherwise."""
        try:
            batch = await client.get(self.batch_id)
            info = await batch.status()
        except BatchNotFound:
            raise NotFound(f"No such File object: {self.id}", param="file_id") from None
        if info.api_input_file_id != self.id or not visible(viewer, info.tenant):
            raise NotFound(f"No such File object: {self.id}", param="file_id")
        return batch, info


async def _pages(batch: Batch, *, bodies: bool) -> AsyncIterator[list[tuple[str, Any, Any]]]:
    """(custom_id, body or its length, parent or None) per request, a page at a time."""
    redis = batch.client.redis
    keys = batch.keys
    async with batch.client.errors():
        chained = bool(await redis.exists(keys.parent))
    start = 0
    while True:
        async with batch.client.errors():
            cids = await redis.lrange(keys.order, start, start + PAGE - 1)  # type: ignore[misc]
            if not cids:
                return
            pipe = redis.pipeline(transaction=False)
            if bodies:
                pipe.hmget(keys.req, cids)
            else:
                for cid in cids:
                    pipe.hstrlen(keys.req, cid)
            if chained:
                pipe.hmget(keys.parent, cids)
            answers = await pipe.execute()
        found = answers[0] if bodies else answers[: len(cids)]
        parents = answers[-1] if chained else [None] * len(cids)
        yield [
            (cid.decode(), body, parent)
            for cid, body, parent in zip(cids, found, parents, strict=True)
        ]
        start += PAGE


def _line(cid: str, url: str, body: bytes, parent: bytes | None) -> bytes:
    line: dict[str, Any] = {
        "custom_id": cid,
        "method": "POST",
        "url": url,
        "body": orjson.Fragment(body),  # stored as the compact JSON that was validated
    }
    if parent:
        line["depends_on"] = parent.decode()
    return orjson.dumps(line) + b"\n"


async def input_content(
    client: BatchClient, viewer: Principal, file: InputFile
) -> AsyncIterator[bytes]:
    """The file's bytes, a page of lines per chunk (NotFound first, before streaming)."""
    batch, info = await file.batch(client, viewer)
    return _content(batch, info.endpoint)


async def _content(batch: Batch, url: str) -> AsyncIterator[bytes]:
    async for page in _pages(batch, bodies=True):
        lines = [_line(cid, url, body, parent) for cid, body, parent in page if body]
        if lines:
            yield b"".join(lines)


async def input_object(client: BatchClient, viewer: Principal, file: InputFile) -> dict[str, Any]:
    """The file object; its size is counted from the bodies' lengths, without reading
    them."""
    batch, info = await file.batch(client, viewer)
    url = orjson.dumps(info.endpoint)
    size = kept = total = 0
    async for page in _pages(batch, bodies=False):
        for cid, length, parent in page:
            total += 1
            if not length:
                continue
            kept += 1
            size += _FRAME_BYTES + len(orjson.dumps(cid)) + len(url) + int(length)
            if parent:
                size += _PARENT_BYTES + len(orjson.dumps(parent.decode()))
    left_out = total - kept
    details = (
        f"{left_out} of {total} requests succeeded and are not kept: their lines are left "
        "out (their results are in the output file)"
        if left_out
        else None
    )
    return {
        "id": file.id,
        "object": "file",
        "bytes": size,
        "created_at": info.created_at or 0,
        "expires_at": None,
        "filename": f"{file.batch_id}_input.jsonl",
        "purpose": "batch",
        "status": "processed",
        "status_details": details,
    }


async def refuse_delete(client: BatchClient, viewer: Principal, file: InputFile) -> None:
    """A rebuilt input file lives as long as its batch: never deleted on its own."""
    await file.batch(client, viewer)  # NotFound first, as for any unknown file
    raise BadRequest(
        f"{file.id} is rebuilt from the requests of batch {file.batch_id} and lives as long "
        "as the batch; it cannot be deleted on its own",
        param="file_id",
    )

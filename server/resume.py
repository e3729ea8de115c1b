"""What a server start recovers from a server that stopped (a crash, ``kill -9``).

Every batch must reach a terminal state. A batch made through the API is only in Redis
(its lines are not queued yet) until its pipeline seals it, and every batch created and not
yet sealed is in ``respq:unsealed``, however many newer batches there are:

- ``validating`` with an input file: validated and enqueued again. Enqueueing is
  idempotent per custom_id, so running a pipeline twice never queues a request twice.
- ``cancelling`` (cancelled while it was validating, through the API or ``respq cancel``):
  ended as ``cancelled`` at once, as a worker would end it; nothing of it was dispatched.
- ended, failed or gone: dropped from the set.

Every other ``cancelling`` batch is ended too. Its cancel may have stopped after its first
page (the server or ``respq cancel`` killed mid-way); dispatch never hands a cancelling
batch's waiting jobs to arq, so no worker would ever end those requests. Cancelling again is
what a worker does with them (cancel.lua ends every request neither recorded nor in
flight); requests in flight still end through their workers. These are found by one pass
over ``respq:batches``, as a worker's reconciler finds unfinished batches when it starts.

``validating`` batches without an input file belong to a ``respq submit`` or a Python
``submit`` that may still be running; they are left to it.

Upload ``.part`` files of a stopped server are removed: no upload of this one has started.
"""

from __future__ import annotations

import contextlib
import logging

from respq.contract.constants import BATCHES_KEY, UNSEALED_KEY, BatchKeys
from respq.contract.endpoints import endpoint_named
from respq.contract.errors import ApiError, BatchNotFound, BatchStateError, InvalidOption
from respq.contract.status import TERMINAL_STATUSES, BatchStatus
from respq.producer.batch import Batch
from respq.producer.client import BatchClient
from respq.producer.settings import OPENAI_WINDOW, parse_window
from respq.server.auth import UNRESTRICTED
from respq.server.batches import BatchService
from respq.server.files import FileStore
from respq.server.input_errors import single_error
from respq.server.pipeline import Job, fail, finish_cancelled

log = logging.getLogger("respq.server")

SCAN_PAGE = 500


async def recover(client: BatchClient, files: FileStore, batches: BatchService) -> None:
    removed = files.remove_partial_uploads()
    if removed:
        log.warning("removed %d partial upload(s) left by a stopped server", removed)
    await resume_unsealed(client, files, batches)
    await finish_cancelling(client)


async def resume_unsealed(client: BatchClient, files: FileStore, batches: BatchService) -> int:
    """Resume or end every unsealed batch; returns how many were resumed or ended."""
    redis = client.redis
    handled = 0
    cursor = 0
    while True:
        cursor, members = await redis.sscan(UNSEALED_KEY, cursor, count=SCAN_PAGE)  # type: ignore[misc]
        ids = [raw.decode() for raw in members]
        pipe = redis.pipeline(transaction=False)
        for batch_id in ids:
            pipe.hmget(BatchKeys(batch_id).meta, ["status", "input_file_id", "sealed"])
        for batch_id, fields in zip(ids, await pipe.execute(), strict=True):
            handled += await _recover_one(client, files, batches, batch_id, *fields)
        if cursor == 0:
            return handled


async def finish_cancelling(client: BatchClient) -> int:
    """Cancel again every sealed ``cancelling`` batch; returns how many."""
    redis = client.redis
    finished = 0
    start = 0
    while ids := await redis.zrange(BATCHES_KEY, start, start + SCAN_PAGE - 1):
        start += SCAN_PAGE
        pipe = redis.pipeline(transaction=False)
        for raw in ids:
            pipe.hmget(BatchKeys(raw.decode()).meta, ["status", "sealed"])
        for raw, (status, sealed) in zip(ids, await pipe.execute(), strict=True):
            if status == BatchStatus.CANCELLING.encode() and sealed == b"1":
                log.warning("batch %s was left cancelling; cancelling it again", raw.decode())
                with contextlib.suppress(BatchStateError, BatchNotFound):  # ended meanwhile
                    await Batch(client, raw.decode()).cancel()
                finished += 1
    return finished


async def _recover_one(
    client: BatchClient,
    files: FileStore,
    batches: BatchService,
    batch_id: str,
    raw_status: bytes | None,
    file_id: bytes | None,
    sealed: bytes | None,
) -> int:
    status = raw_status.decode() if raw_status else None
    if status is None or sealed == b"1" or status in TERMINAL_STATUSES:
        await client.redis.srem(UNSEALED_KEY, batch_id)  # type: ignore[misc]
        return 0
    meta = await batches.info(UNRESTRICTED, batch_id)
    window = _window(meta.completion_window)
    if status == BatchStatus.CANCELLING:
        log.warning("batch %s was left cancelling; ending it as cancelled", batch_id)
        await finish_cancelled(client, batch_id, window)
        return 1
    if status != BatchStatus.VALIDATING or not file_id:
        return 0
    try:
        path = await files.input_path(UNRESTRICTED, file_id.decode())
    except ApiError as exc:
        await fail(client, batch_id, single_error("file_missing", exc.message))
        return 1
    log.warning("batch %s was left validating; validating it again", batch_id)
    endpoint = endpoint_named(meta.endpoint)
    batches.start(Job(batch_id, path, meta.metadata or {}, window, endpoint))
    return 1


def _window(text: str | None) -> str:
    """The batch's window, or OpenAI's for a batch stored before the rule of
    ``parse_window`` (its expires_at, already in its record, still holds)."""
    try:
        parse_window(text or "")
    except InvalidOption:
        return OPENAI_WINDOW
    return text or OPENAI_WINDOW

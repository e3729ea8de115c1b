"""Batches left ``validating`` by a server that stopped are validated again at start-up.

Every batch must reach a terminal state: a batch made through the API is only in Redis
(its lines are not queued yet) until its pipeline ends. Enqueueing is idempotent per
custom_id, so running a pipeline twice never queues a request twice.
"""

from __future__ import annotations

import logging

from contract.constants import BATCHES_KEY, BatchKeys
from contract.endpoints import endpoint_named
from producer.client import BatchClient
from server.batches import BatchService
from server.errors import ApiError
from server.files import FileStore
from server.input_errors import single_error
from server.pipeline import Job, fail

log = logging.getLogger("respq.server")

# Only the newest batches are looked at: an API batch stays validating for seconds.
SCAN = 1000


async def resume_validating(client: BatchClient, files: FileStore, batches: BatchService) -> int:
    redis = client.redis
    ids = await redis.zrevrange(BATCHES_KEY, 0, SCAN - 1)
    pipe = redis.pipeline(transaction=False)
    for raw in ids:
        pipe.hmget(BatchKeys(raw.decode()).meta, ["status", "input_file_id", "sealed"])
    resumed = 0
    for raw, (status, file_id, sealed) in zip(ids, await pipe.execute(), strict=True):
        if status != b"validating" or not file_id or sealed == b"1":
            continue
        batch_id = raw.decode()
        meta = await batches.info(batch_id)
        try:
            path = await files.input_path(file_id.decode())
        except ApiError as exc:
            await fail(client, batch_id, single_error("file_missing", exc.message))
            continue
        log.warning("batch %s was left validating; validating it again", batch_id)
        window = meta.completion_window or "24h"
        endpoint = endpoint_named(meta.endpoint)
        batches.start(Job(batch_id, path, meta.metadata or {}, window, endpoint))
        resumed += 1
    return resumed

"""The worker's Redis bookkeeping: claim a job's requests, record results exactly once,
hand a request to a later job, give back unsent claims. One script call each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from respq.contract.constants import (
    ARQ_IN_PROGRESS_PREFIX,
    ARQ_JOB_PREFIX,
    BatchKeys,
    job_ttl_s,
    paused_key,
)
from respq.contract.ids import DEFERRED_JOB, new_token
from respq.contract.scripts import ScriptSet
from respq.contract.serializer import job_record
from respq.contract.webhooks import new_event_id

WORKER_SCRIPTS = ["claim", "defer", "release", "account"]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One claimed request. ``previous_response_id`` is set when it waited on a parent
    (depends_on); ``has_children`` when others wait on it (it must then be stored)."""

    custom_id: str
    body: bytes
    previous_response_id: str = ""
    has_children: bool = False


@dataclass(slots=True)
class Claim:
    """What one job run may send, and where: ``mode`` is run, cancel, expire, paused (its
    requests were parked until ``resume``) or missing; ``endpoint`` is the batch's as
    stored ("" for Responses: ``respq.contract.endpoints.endpoint_named`` reads it)."""

    mode: str
    work: list[WorkItem] = field(default_factory=list)
    endpoint: str = ""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class WorkerStore:
    def __init__(
        self, redis: Redis, *, queue_name: str, result_ttl: int, chunk_size: int = 16
    ) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.result_ttl = result_ttl
        self.chunk_size = chunk_size
        self.scripts = ScriptSet(redis, WORKER_SCRIPTS)

    async def claim(
        self,
        batch_id: str,
        job_id: str,
        custom_ids: list[str],
        *,
        lease_ms: int,
        lease_value: str = "",
        attempts_used: int = 0,
    ) -> Claim:
        keys = BatchKeys(batch_id)
        now_ms = int(time.time() * 1000)
        raw = await self.scripts["claim"](
            batch=keys,
            progress=ARQ_IN_PROGRESS_PREFIX + job_id,
            paused=paused_key(self.queue_name),
            job_id=job_id,
            now=now_ms // 1000,
            id_token=new_token(),
            finished_ttl=self.result_ttl,
            lease_ms=lease_ms,
            lease_value=lease_value,
            attempts=attempts_used,
            now_ms=now_ms,
            audit_due_ms=now_ms + lease_ms,
            event_id=new_event_id(),
            custom_ids=custom_ids,
        )
        work = [
            WorkItem(_text(raw[i]), raw[i + 1], _text(raw[i + 2]), int(raw[i + 3]) == 1)
            for i in range(2, len(raw), 4)
            if raw[i + 1] is not None  # a request body lost with its key: nothing to send
        ]
        return Claim(_text(raw[0]), work, _text(raw[1]))

    async def defer(
        self, batch_id: str, custom_id: str, *, delay: float, attempts_used: int
    ) -> str:
        """Move the request to a new job that runs after ``delay`` seconds."""
        keys = BatchKeys(batch_id)
        job_id = DEFERRED_JOB(batch=batch_id, token=new_token())
        now_ms = int(time.time() * 1000)
        record = job_record(batch_id, [custom_id], enqueued_ms=now_ms, attempts_used=attempts_used)
        await self.scripts["defer"](
            batch=keys,
            queue=self.queue_name,
            job=ARQ_JOB_PREFIX + job_id,
            custom_id=custom_id,
            job_id=job_id,
            record=record,
            run_at=now_ms + int(delay * 1000),
            job_ttl_ms=(job_ttl_s(self.result_ttl) + int(delay)) * 1000,
        )
        return job_id

    async def account_failure(self, batch_id: str, *, threshold: int, reason: str) -> bool:
        """Count an account-level failure; True when the batch is paused (now or before),
        so the request is handed back instead of recorded."""
        paused = await self.scripts["account"](
            batch=BatchKeys(batch_id), threshold=threshold, reason=reason, now=int(time.time())
        )
        return int(paused) == 1

    async def release(self, batch_id: str, job_id: str, custom_ids: list[str]) -> None:
        if custom_ids:
            await self.scripts["release"](
                batch=BatchKeys(batch_id), job_id=job_id, custom_ids=custom_ids
            )

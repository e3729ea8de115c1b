"""The worker's Redis bookkeeping: claim a job's requests, record results exactly once,
hand a request to a later job, give back unsent claims. One script call each."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from producer.constants import ARQ_IN_PROGRESS_PREFIX, ARQ_JOB_PREFIX, JOB_FUNCTION, BatchKeys
from producer.models import Usage
from producer.scripts import ScriptSet

WORKER_SCRIPTS = ["claim", "record", "defer", "release"]


@dataclass(slots=True)
class Claim:
    """What one job run may send: ``mode`` is run, cancel, expire, paused or missing."""

    mode: str
    work: list[tuple[str, bytes]] = field(default_factory=list)


class WorkerStore:
    def __init__(self, redis: Redis, *, queue_name: str, result_ttl: int) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.result_ttl = result_ttl
        self.scripts = ScriptSet(redis, "worker", WORKER_SCRIPTS)

    async def claim(
        self, batch_id: str, job_id: str, custom_ids: list[str], *, lease_ms: int
    ) -> Claim:
        keys = BatchKeys(batch_id)
        line_prefix = "batch_req_" + secrets.token_hex(6) + "_"
        raw = await self.scripts["claim"](
            keys=[
                keys.meta,
                keys.res,
                keys.req,
                keys.owner,
                keys.inflight,
                ARQ_IN_PROGRESS_PREFIX + job_id,
                *keys.all(),
            ],
            args=[job_id, int(time.time()), line_prefix, self.result_ttl, lease_ms, *custom_ids],
        )
        mode = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        work = [
            (cid.decode(), body)
            for cid, body in zip(raw[1::2], raw[2::2], strict=True)
            if body is not None
        ]
        return Claim(mode, work)

    async def record(
        self,
        batch_id: str,
        custom_id: str,
        line: dict[str, Any],
        *,
        ok: bool,
        code: str = "",
        model: str = "",
        usage: Usage | None = None,
    ) -> int:
        """Store the output line; 0 when the request already had one (nothing changes)."""
        keys = BatchKeys(batch_id)
        u = usage or Usage()
        return int(
            await self.scripts["record"](
                keys=[keys.meta, keys.res, keys.inflight, *keys.all()],
                args=[
                    custom_id,
                    orjson.dumps(line),
                    1 if ok else 0,
                    code,
                    model,
                    u.input_tokens,
                    u.output_tokens,
                    u.total_tokens,
                    u.cached_tokens,
                    u.reasoning_tokens,
                    int(time.time()),
                    self.result_ttl,
                ],
            )
        )

    async def defer(
        self, batch_id: str, custom_id: str, *, delay: float, attempts_used: int
    ) -> str:
        """Move the request to a new job that runs after ``delay`` seconds."""
        keys = BatchKeys(batch_id)
        job_id = f"{batch_id}:d:{secrets.token_hex(6)}"
        now_ms = int(time.time() * 1000)
        record = orjson.dumps(
            {
                "t": 0,
                "f": JOB_FUNCTION,
                "a": [batch_id, [custom_id], attempts_used],
                "k": {},
                "et": now_ms,
            }
        )
        await self.scripts["defer"](
            keys=[keys.owner, keys.inflight, self.queue_name, ARQ_JOB_PREFIX + job_id],
            args=[
                custom_id,
                job_id,
                record,
                now_ms + int(delay * 1000),
                (self.result_ttl + int(delay) + 86400) * 1000,
            ],
        )
        return job_id

    async def release(self, batch_id: str, job_id: str, custom_ids: list[str]) -> None:
        if custom_ids:
            await self.scripts["release"](
                keys=[BatchKeys(batch_id).inflight], args=[job_id, *custom_ids]
            )

"""The reconciler: every batch reaches a terminal state, whatever Redis loses.

Each worker runs one. Batches a worker touched are in ``respq:active`` (claim.lua adds
them), scored by when each is next due; a tick takes at most a few due batches, and
``take_due.lua`` lets exactly one worker audit a batch per period, so the work does not
grow with the number of workers or of batches (no scan of all batches per tick).

Per batch (``contract/audit.py`` does the audit, in bounded script calls):

1. In-flight claims: a request claimed by a job that has neither a lease (arq
   in-progress key) nor a queue entry is stranded — its job was lost with a cut AOF tail
   or dropped by arq — and is queued again at once, in a new job that owns it.
2. When the batch has made no progress for a quarter lease and nothing of it is leased, the
   whole input order is walked: requests held by nothing are queued again, and so are
   those held only by the first job that listed them (that job may be the one Redis
   lost; if it still exists it finds them owned elsewhere and skips them).
3. An ended batch has its counters checked against its stored results (and repaired),
   then leaves the schedule.

So a stranded request is queued again within about a period (``lease / 6``) of becoming
stranded when it was claimed, and within about ``lease / 4 + lease / 6`` of its batch
running dry when its job vanished before it was claimed: inside the 2 ×
``RESPQ_LEASE_SECONDS`` the README promises. A false alarm (a batch that merely waits
behind others) only moves its unclaimed requests to new jobs, once.

A worker that finds a new Redis server (restart with a new run id, failover) or has
just started adds every unfinished batch to the schedule once.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import ResponseError

from respq.contract.audit import Auditor, RequestAudit
from respq.contract.background import Background, tick_every
from respq.contract.constants import ACTIVE_KEY, BATCHES_KEY, BatchKeys, paused_key
from respq.contract.scripts import ScriptSet
from respq.contract.status import TERMINAL_STATUSES
from respq.worker.store import WorkerStore

log = logging.getLogger("respq.worker")

# Batches audited per tick, and the time one tick may spend on audits.
BATCHES_PER_TICK = 4
TICK_BUDGET_S = 0.25
DISCOVERY_PAGE = 500


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Reconciler(Background):
    def __init__(self, store: WorkerStore, *, lease_seconds: float) -> None:
        """Audits the batches of ``store``'s queue, laid out as it writes them."""
        self.redis = redis = store.redis
        self.queue_name = store.queue_name
        self.auditor = Auditor(
            redis,
            queue_name=store.queue_name,
            chunk_size=store.chunk_size,
            result_ttl=store.result_ttl,
        )
        lease_ms = int(lease_seconds * 1000)
        self.period_ms = lease_ms // 6
        self.stall_ms = lease_ms // 4
        self.interval = lease_seconds / 6
        self.scripts = ScriptSet(redis, ["take_due"])
        self.requeued = 0
        self._server: str | None = None
        super().__init__(
            lambda: tick_every(self.interval, self.tick, log, "reconciler"), "respq-reconcile"
        )

    async def tick(self) -> int:
        """Audit the batches that are due; returns how many requests were re-queued."""
        await self._discover_if_new_server()
        now_ms = int(time.time() * 1000)
        due = await self.redis.zrangebyscore(
            ACTIVE_KEY, "-inf", now_ms, start=0, num=BATCHES_PER_TICK
        )
        requeued = 0
        deadline = time.monotonic() + TICK_BUDGET_S
        for raw in due:
            batch_id = _text(raw)
            taken = await self.scripts["take_due"](
                batch_id=batch_id,
                now_ms=now_ms,
                next_due_ms=now_ms + self.period_ms,
            )
            if int(taken):
                requeued += await self.check(batch_id, deadline)
        return requeued

    async def check(self, batch_id: str, deadline: float) -> int:
        keys = BatchKeys(batch_id)
        fields = await self.redis.hmget(  # type: ignore[misc]
            keys.meta,
            ["status", "completed", "failed", "audit_done", "audit_seen_at", "audit_pos"],
        )
        status = _text(fields[0]) if fields[0] is not None else None
        if status is None or status in TERMINAL_STATUSES:
            if status is not None:
                await self._check_counters(batch_id)
            await self.redis.zrem(ACTIVE_KEY, batch_id)
            await self.redis.srem(paused_key(self.queue_name), batch_id)  # type: ignore[misc]
            return 0
        if status == "validating":
            return 0  # still being submitted: its jobs are not queued yet
        tally = RequestAudit()
        cursor = "0"
        while True:
            cursor, part = await self.auditor.slice(
                batch_id, what="inflight", start=cursor, repair=1
            )
            tally.add(part)
            if cursor == "0" or time.monotonic() > deadline:
                break
        now_ms = int(time.time() * 1000)
        done = int(fields[1] or 0) + int(fields[2] or 0)
        if fields[3] is None or int(fields[3]) != done:
            await self.redis.hset(  # type: ignore[misc]
                keys.meta, mapping={"audit_done": done, "audit_seen_at": now_ms}
            )
        elif (
            status != "paused"
            and tally.leased + tally.overdue == 0
            and now_ms - int(fields[4] or 0) >= self.stall_ms
        ):
            tally.add(await self._walk(batch_id, _text(fields[5] or b"0"), deadline))
        if tally.requeued:
            self.requeued += tally.requeued
            log.warning(
                "reconciler: batch %s had %d stranded request(s) (e.g. %s); queued again",
                batch_id,
                tally.requeued,
                ", ".join(tally.stranded_ids[:5]) or "unowned",
                extra={"batch_id": batch_id},
            )
        return tally.requeued

    async def _walk(self, batch_id: str, pos: str, deadline: float) -> RequestAudit:
        """Go on walking the input order of a batch that stopped moving."""
        tally = RequestAudit()
        while True:
            pos, part = await self.auditor.slice(batch_id, what="order", start=pos, repair=2)
            tally.add(part)
            if pos == "0" or time.monotonic() > deadline:
                break
        meta = BatchKeys(batch_id).meta
        if pos == "0":  # a whole pass: wait for another still period before the next
            mapping = {"audit_pos": 0, "audit_seen_at": int(time.time() * 1000)}
            await self.redis.hset(meta, mapping=mapping)  # type: ignore[misc]
        else:  # more to walk: due again at once
            await self.redis.hset(meta, "audit_pos", pos)  # type: ignore[misc]
            await self.redis.zadd(ACTIVE_KEY, {batch_id: 0})
        return tally

    async def _check_counters(self, batch_id: str) -> None:
        meta = BatchKeys(batch_id).meta
        if await self.redis.hget(meta, "audit_checked"):  # type: ignore[misc]
            return
        audit = await self.auditor.counters(batch_id)
        if audit.drift:
            log.warning(
                "reconciler: batch %s counters disagreed with its results %s; repaired",
                batch_id,
                audit.drift,
                extra={"batch_id": batch_id},
            )
            await self.auditor.repair_counters(batch_id, audit)
        await self.redis.hset(meta, "audit_checked", "1")  # type: ignore[misc]

    async def _discover_if_new_server(self) -> None:
        try:
            info = await self.redis.info("server")
            server = str(info.get("run_id", ""))
        except ResponseError:  # INFO unavailable: discover once, at start
            server = "unknown"
        if server == self._server:
            return
        if self._server is not None:
            log.warning("reconciler: a new Redis server (%s); auditing unfinished batches", server)
        await self.discover()
        self._server = server

    async def discover(self) -> int:
        """Put every unfinished batch on the schedule (NX: keeps existing turns)."""
        added = 0
        start = 0
        now_ms = int(time.time() * 1000)
        while True:
            ids = await self.redis.zrange(BATCHES_KEY, start, start + DISCOVERY_PAGE - 1)
            if not ids:
                return added
            pipe = self.redis.pipeline(transaction=False)
            for raw in ids:
                pipe.hget(BatchKeys(_text(raw)).meta, "status")
            statuses = await pipe.execute()
            unfinished = {
                _text(raw): now_ms
                for raw, status in zip(ids, statuses, strict=True)
                if status is not None and _text(status) not in TERMINAL_STATUSES
            }
            if unfinished:
                added += int(await self.redis.zadd(ACTIVE_KEY, unfinished, nx=True))
            start += DISCOVERY_PAGE

"""Group commit of results: the outcomes that finish while one write-back is on its way
to Redis go together in the next one.

Each request still ends exactly once (record_many.lua checks every custom_id on its own),
but a busy worker pays one script call, one round trip and one write of each meta counter
per group instead of per request. Nothing waits for a group to fill: a lone result is
written at once, and a group is simply whatever finished during the previous write.
A worker killed before a result is written leaves that request claimed, exactly as a kill
before the write did before: its lease runs out and it is sent again.

An answer received is never thrown away while its job run holds the lease: when Redis
refuses the write for now (maxmemory, read-only, loading, unreachable) the group is kept
and written again with backoff until Redis accepts it. Its requests keep their slots
meanwhile, so nothing new is sent, and the lease keeper keeps renewing their job (a
renewal is allowed at maxmemory), so no other worker sends them again. Only once another
worker has taken the job over may a refused outcome be dropped: that worker records it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import (
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from respq.contract.constants import ARQ_JOB_PREFIX, BatchKeys
from respq.contract.errors import LeaseLost
from respq.contract.lines import is_success, line_code
from respq.contract.response import Usage
from respq.contract.scripts import Script
from respq.contract.stored import pack_line
from respq.contract.timeline import BASE_WIDTH_MS, BUCKETS, latency_codes
from respq.contract.webhooks import new_event_id
from respq.worker.job_lease import JobLease
from respq.worker.store import WorkerStore

log = logging.getLogger("respq.worker")

# Results per script call; a bigger group would hold Redis for longer in one go.
MAX_GROUP = 128
# Backoff between tries of a refused write-back, doubling up to the cap.
REFUSED_RETRY_BASE_S = 0.05
REFUSED_RETRY_CAP_S = 1.0
_REFUSALS = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    OSError,
)
_REFUSAL_REPLIES = ("MASTERDOWN", "BUSY ", "NOREPLICAS", "TRYAGAIN")


def refused_for_now(exc: BaseException) -> bool:
    """Redis cannot take the write now but will later; not a wrong call or script."""
    if isinstance(exc, _REFUSALS):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(_REFUSAL_REPLIES)


@dataclass(frozen=True, slots=True)
class Result:
    """One request's outcome: its output line (built by contract/lines.py, which alone
    turns an outcome into a line), and what the batch counts with it. Whether it succeeded
    and its failure code are read from the line, so they can never disagree with it.
    ``incomplete`` is a success whose response has status "incomplete"; ``response_id``
    is passed to its children; ``latency`` (seconds) is its last upstream attempt's, for
    the batch's timeline."""

    custom_id: str
    line: dict[str, Any]
    model: str = ""
    usage: Usage | None = None
    response_id: str = ""
    incomplete: bool = False
    latency: float | None = None

    @property
    def ok(self) -> bool:
        """An HTTP success: its line is stored packed (contract/stored.py)."""
        return is_success(self.line)

    @property
    def code(self) -> str:
        return line_code(self.line)

    def args(self) -> list[str | int | bytes]:
        """The result's fields in record_many.lua's order."""
        u = self.usage or Usage()
        ok = self.ok
        return [
            self.custom_id,
            pack_line(self.line),
            (2 if self.incomplete else 1) if ok else 0,
            self.code,
            self.model,
            u.input_tokens,
            u.output_tokens,
            u.total_tokens,
            u.cached_tokens,
            u.reasoning_tokens,
            self.response_id,
        ]


_Waiting = tuple[Result, "asyncio.Future[int]", JobLease | None]


class ResultWriter:
    """One per worker process, beside its WorkerStore."""

    def __init__(self, store: WorkerStore, *, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.max_group = max_group
        self._script = Script(store.redis, "record_many")
        self._pending: dict[str, list[_Waiting]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self.writes = 0  # script calls so far (what the grouping saves shows here)
        self.recorded = 0  # results stored so far (the worker's rate in its heartbeat)

    async def record(self, batch_id: str, result: Result, lease: JobLease | None = None) -> int:
        """Store the result; 1 when stored, 0 when the request already had one (nothing
        changes). With the ``lease`` of its job run, a write Redis refuses for now is
        tried again until it is stored, or raises LeaseLost once another worker owns the
        request; without one (or for any other failure) raises what the write raised (a
        RedisError: the job is retried)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._pending.setdefault(batch_id, []).append((result, done, lease))
        if batch_id not in self._writers:
            self._writers[batch_id] = loop.create_task(
                self._drain(batch_id), name=f"respq-results-{batch_id}"
            )
        return await done

    async def write(self, batch_id: str, results: list[Result]) -> list[int]:
        """One script call for ``results`` (all of one batch); stored flags in order."""
        store = self.store
        keys = BatchKeys(batch_id)
        now = time.time()
        fields: list[str | int | bytes] = []
        for result in results:
            fields += result.args()
        self.writes += 1
        raw = await self._script(
            batch=keys,
            queue=store.queue_name,
            now=int(now),
            finished_ttl=store.result_ttl,
            job_prefix=ARQ_JOB_PREFIX,
            chunk_size=store.chunk_size,
            now_ms=int(now * 1000),
            event_id=new_event_id(),
            latencies=latency_codes(result.latency for result in results),
            timeline_buckets=BUCKETS,
            timeline_base_ms=BASE_WIDTH_MS,
            results=fields,
        )
        stored = [int(flag) for flag in raw[1:]]
        self.recorded += sum(stored)
        return stored

    async def _drain(self, batch_id: str) -> None:
        waiting: list[_Waiting] = []
        refusals = 0
        try:
            while pending := self._pending.pop(batch_id, None):
                waiting, rest = pending[: self.max_group], pending[self.max_group :]
                if rest:
                    self._pending[batch_id] = rest
                try:
                    stored = await self.write(batch_id, [result for result, _, _ in waiting])
                except Exception as exc:  # handed to every request of the group
                    kept = self._keep_or_fail(batch_id, waiting, exc, refusals)
                    waiting = []
                    if kept:
                        self._pending[batch_id] = kept + self._pending.get(batch_id, [])
                        refusals += 1
                        await asyncio.sleep(
                            min(REFUSED_RETRY_CAP_S, REFUSED_RETRY_BASE_S * 2 ** min(refusals, 8))
                        )
                    continue
                if refusals:
                    log.warning("write-back accepted again after %d refusal(s)", refusals)
                    refusals = 0
                for (_, done, _), flag in zip(waiting, stored, strict=True):
                    if not done.done():
                        done.set_result(flag)
                waiting = []
        finally:
            del self._writers[batch_id]
            # Cancelled (the loop is shutting down): nobody may wait forever.
            for _, done, _ in waiting + self._pending.pop(batch_id, []):
                done.cancel()

    def _keep_or_fail(
        self, batch_id: str, waiting: list[_Waiting], exc: Exception, refusals: int
    ) -> list[_Waiting]:
        """The outcomes to write again (Redis refused them for now and their job run still
        holds its lease); every other waiter gets its exception."""
        refused = refused_for_now(exc)
        kept = []
        for entry in waiting:
            _, done, lease = entry
            if done.done():
                continue
            if refused and lease is not None and not lease.lost:
                kept.append(entry)
            elif refused and lease is not None:
                done.set_exception(LeaseLost(f"{batch_id}: its write-back was refused: {exc}"))
            else:
                done.set_exception(exc)
        if kept and not refusals:  # one line per episode
            log.warning(
                "write-back refused by Redis (%s): keeping %d outcome(s) of batch %s and "
                "writing them when it accepts again",
                f"{type(exc).__name__}: {exc}"[:200],
                len(kept),
                batch_id,
                extra={"batch_id": batch_id},
            )
        return kept


__all__ = ["MAX_GROUP", "Result", "ResultWriter"]

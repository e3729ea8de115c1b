"""Group commit of results: the outcomes that finish while one write-back is on its way
to Redis go together in the next one.

Each request still ends exactly once (record_many.lua checks every custom_id on its own),
but a busy worker pays one script call, one round trip and one write of each meta counter
per group instead of per request. Nothing waits for a group to fill: a lone result is
written at once, and a group is simply whatever finished during the previous write.
A worker killed before a result is written leaves that request claimed, exactly as a kill
before the write did before: its lease runs out and it is sent again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from contract.constants import ARQ_JOB_PREFIX, BatchKeys
from contract.response import Usage
from contract.scripts import ScriptSet
from contract.stored import pack_answer
from worker.store import WorkerStore

# Results per script call; a bigger group would hold Redis for longer in one go.
MAX_GROUP = 128


@dataclass(frozen=True, slots=True)
class Result:
    """One request's outcome. ``ok`` is an HTTP success (its line is stored packed:
    contract/stored.py); ``incomplete`` a success whose response has status "incomplete";
    ``response_id`` is passed to its children."""

    custom_id: str
    line: dict[str, Any]
    ok: bool
    code: str = ""
    model: str = ""
    usage: Usage | None = None
    response_id: str = ""
    incomplete: bool = False

    def args(self) -> list[str | int | bytes]:
        u = self.usage or Usage()
        return [
            self.custom_id,
            pack_answer(self.line) if self.ok else orjson.dumps(self.line),
            (2 if self.incomplete else 1) if self.ok else 0,
            self.code,
            self.model,
            u.input_tokens,
            u.output_tokens,
            u.total_tokens,
            u.cached_tokens,
            u.reasoning_tokens,
            self.response_id,
        ]


_Waiting = tuple[Result, "asyncio.Future[int]"]


class ResultWriter:
    """One per worker process, beside its WorkerStore."""

    def __init__(self, store: WorkerStore, *, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.max_group = max_group
        self._script = ScriptSet(store.redis, "worker", ["record_many"])["record_many"]
        self._pending: dict[str, list[_Waiting]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self.writes = 0  # script calls so far (what the grouping saves shows here)

    async def record(self, batch_id: str, result: Result) -> int:
        """Store the result; 1 when stored, 0 when the request already had one (nothing
        changes). Raises what the write raised (a RedisError: the job is retried)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._pending.setdefault(batch_id, []).append((result, done))
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
            meta=keys.meta,
            res=keys.res,
            inflight=keys.inflight,
            children=keys.children,
            prev=keys.prev,
            queue=store.queue_name,
            req=keys.req,
            batch_keys=keys.all(),
            now=int(now),
            finished_ttl=store.result_ttl,
            batch_id=batch_id,
            job_prefix=ARQ_JOB_PREFIX,
            chunk_size=store.chunk_size,
            now_ms=int(now * 1000),
            job_ttl_ms=(store.result_ttl + 86400) * 1000,
            results=fields,
        )
        return [int(flag) for flag in raw[1:]]

    async def _drain(self, batch_id: str) -> None:
        waiting: list[_Waiting] = []
        try:
            while pending := self._pending.pop(batch_id, None):
                waiting, rest = pending[: self.max_group], pending[self.max_group :]
                if rest:
                    self._pending[batch_id] = rest
                try:
                    stored = await self.write(batch_id, [result for result, _ in waiting])
                except Exception as exc:  # handed to every request of the group
                    for _, done in waiting:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), flag in zip(waiting, stored, strict=True):
                    if not done.done():
                        done.set_result(flag)
                waiting = []
        finally:
            del self._writers[batch_id]
            # Cancelled (the loop is shutting down): nobody may wait forever.
            for _, done in waiting + self._pending.pop(batch_id, []):
                done.cancel()


__all__ = ["MAX_GROUP", "Result", "ResultWriter"]

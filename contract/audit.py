"""The audit of one batch, shared by the workers' reconciler and ``respq doctor``.

Requests (``contract/lua/audit.lua``): every request must be recorded, held by a live lease, or in
a queued (or parked) job. One held by nothing is *stranded* — its job was lost with a cut
AOF tail or dropped by arq — and ``repair`` queues it again in a new job that owns it,
in the same atomic step, so several auditors may run at once. A lease held past the time
its worker wrote into it (its requests in flight longer than that worker's deadlines
allow) is *overdue*: a live but stuck worker, shown and never re-queued (that would send
the requests twice).

Counters: ``completed``, ``failed``, ``err:<code>`` and the batch's usage totals are sums
over the stored result lines; ``counters()`` derives them and reports where the meta
hash disagrees, ``repair_counters()`` writes the derived values. Per-model counters are
not checked: a succeeded request's body (which names its model) is emptied once its
result is stored, and a response's own ``model`` may differ from the one asked for.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from respq.contract.constants import (
    ARQ_IN_PROGRESS_PREFIX,
    ARQ_JOB_PREFIX,
    DEFAULT_RESULT_TTL_S,
    ERROR_COUNT_PREFIX,
    USAGE_FIELDS,
    USAGE_PREFIX,
    BatchKeys,
)
from respq.contract.endpoints import DEFAULT_ENDPOINT, ENDPOINTS
from respq.contract.ids import new_token
from respq.contract.lines import OutputLine, is_success
from respq.contract.response import Usage
from respq.contract.scripts import ScriptSet
from respq.contract.stored import unpack

# arq counts every run of a job; past this many the job records its requests as
# worker_error instead of running again (worker/tasks.py).
MAX_JOB_RUNS = 20
# A request re-queued this often by the audit is handed to a job that gives up at once.
MAX_RESCUES = 5
# Requests per audit script call: short enough never to block Redis for long.
SLICE = 500
STATES = (
    "recorded",
    "leased",
    "overdue",
    "queued",
    "parked",
    "waiting",
    "unowned",
    "stranded",
)


@dataclass(slots=True)
class RequestAudit:
    """How a batch's requests are held; ``stranded_ids`` shows the first few."""

    recorded: int = 0
    leased: int = 0
    overdue: int = 0
    queued: int = 0
    parked: int = 0
    waiting: int = 0
    unowned: int = 0
    stranded: int = 0
    requeued: int = 0
    stranded_ids: list[str] = field(default_factory=list)

    def add(self, other: RequestAudit) -> None:
        for name in (*STATES, "requeued"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.stranded_ids.extend(other.stranded_ids[: 20 - len(self.stranded_ids)])

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*STATES, "requeued", "stranded_ids")}


@dataclass(slots=True)
class CounterAudit:
    """Counters derived from the stored results against those in the meta hash."""

    derived: dict[str, int]
    stored: dict[str, int]

    @property
    def drift(self) -> dict[str, tuple[int, int]]:
        """field -> (stored, derived) where they differ."""
        names = set(self.derived) | set(self.stored)
        return {
            name: (self.stored.get(name, 0), self.derived.get(name, 0))
            for name in sorted(names)
            if self.stored.get(name, 0) != self.derived.get(name, 0)
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _counted(name: str) -> bool:
    """Meta fields that are sums over the result lines alone."""
    if name in ("completed", "failed") or name.startswith(ERROR_COUNT_PREFIX):
        return True
    if name.startswith(USAGE_PREFIX):
        return name[len(USAGE_PREFIX) :] in USAGE_FIELDS
    return False


class Auditor:
    """Runs the audit of a batch; ``queue_name`` is where re-queued jobs go."""

    def __init__(
        self,
        redis: Redis,
        *,
        queue_name: str,
        chunk_size: int = 16,
        result_ttl: int = DEFAULT_RESULT_TTL_S,
    ) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.chunk_size = chunk_size
        self.result_ttl = result_ttl
        self.scripts = ScriptSet(redis, ["audit"])

    async def slice(
        self, batch_id: str, *, what: str, start: str, count: int = SLICE, repair: int = 0
    ) -> tuple[str, RequestAudit]:
        """One script call: ``what`` is "order" (start = index) or "inflight" (start =
        HSCAN cursor). Returns where to go on ("0" at the end) and the tally."""
        keys = BatchKeys(batch_id)
        raw = await self.scripts["audit"](
            batch=keys,
            queue=self.queue_name,
            what=what,
            start=start,
            count=count,
            repair=repair,
            now_ms=int(time.time() * 1000),
            job_prefix=ARQ_JOB_PREFIX,
            progress_prefix=ARQ_IN_PROGRESS_PREFIX,
            chunk_size=self.chunk_size,
            result_ttl=self.result_ttl,
            id_token=new_token(),
            max_rescues=MAX_RESCUES,
            give_up_try=MAX_JOB_RUNS + 1,
            sample=20,
        )
        counts = len(STATES) + 1
        tally = RequestAudit(stranded_ids=[_text(x) for x in raw[1 + counts :]])
        for name, value in zip((*STATES, "requeued"), raw[1 : 1 + counts], strict=True):
            setattr(tally, name, int(value))
        return _text(raw[0]), tally

    async def requests(self, batch_id: str, *, repair: int = 0) -> RequestAudit:
        """Every request of the batch, in input order."""
        total = RequestAudit()
        start = "0"
        while True:
            start, part = await self.slice(batch_id, what="order", start=start, repair=repair)
            total.add(part)
            if start == "0":
                return total

    async def counters(self, batch_id: str) -> CounterAudit:
        keys = BatchKeys(batch_id)
        derived: Counter[str] = Counter()
        stored_endpoint = await self.redis.hget(keys.meta, "endpoint")  # type: ignore[misc]
        endpoint = ENDPOINTS.get(_text(stored_endpoint or b""), DEFAULT_ENDPOINT)
        async for _, raw in self.redis.hscan_iter(keys.res, count=1000):
            line = orjson.loads(unpack(raw))
            if is_success(line):
                derived["completed"] += 1
                body = line["response"].get("body")
                # Counted as the worker counted it: by the batch's endpoint.
                usage = endpoint.facts(body).usage if isinstance(body, dict) else Usage()
                for name in USAGE_FIELDS:
                    derived[USAGE_PREFIX + name] += getattr(usage, name)
            else:
                derived["failed"] += 1
                try:
                    code = OutputLine.model_validate(line).code or "unknown"
                except ValidationError:
                    code = "unknown"
                derived[ERROR_COUNT_PREFIX + code] += 1
        meta = await self.redis.hgetall(keys.meta)  # type: ignore[misc]
        stored = {
            _text(k): int(float(v)) for k, v in meta.items() if _counted(_text(k)) and v != b""
        }
        return CounterAudit({k: v for k, v in derived.items() if v}, stored)

    async def repair_counters(self, batch_id: str, audit: CounterAudit) -> int:
        """Write the derived value of every drifted counter; returns how many."""
        drift = audit.drift
        if drift:
            await self.redis.hset(  # type: ignore[misc]
                BatchKeys(batch_id).meta,
                mapping={name: derived for name, (_, derived) in drift.items()},
            )
        return len(drift)

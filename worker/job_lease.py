"""One job run's hold on the requests it claimed, and the check each send makes first.

The claim writes ``<token>:<overdue at, ms>`` into arq's in-progress key of the job; the
worker's LeaseKeeper renews it while the run lasts (``contract/lua/renew.lua``). Another worker
that takes the job once the key lapsed writes its own token, so a run can tell that it
lost its lease, although both runs carry the same job id.

Before each send the run asks itself, not Redis, whether it still holds the lease: the
last renewal Redis confirmed started at a local monotonic time, and the key lives at least
a lease from then. Only when that local clock has run out does the send wait for one
script call (``contract/lua/confirm.lua``) that renews the lease and says which of the job's
requests are still its own. A process frozen by SIGSTOP (or starved, or cut off from Redis)
finds its monotonic clock far ahead on waking, asks, and sends nothing another worker
has taken over meanwhile. So the hot path costs no round trip.

The overdue time is for ``respq doctor``: a request in flight longer than its worker's
deadlines allow (``InFlightBounds``) is shown as suspicious rather than healthy.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from respq.contract.constants import ARQ_IN_PROGRESS_PREFIX, BatchKeys
from respq.contract.errors import LeaseLost
from respq.contract.scripts import ScriptSet
from respq.worker.config import WorkerConfig

log = logging.getLogger("respq.worker")

# A renewal is trusted for this share of the lease: what Redis counts and what this
# process counts may drift a little apart.
TRUSTED_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class InFlightBounds:
    """How long a live worker's requests can possibly stay in flight.

    Once a request holds a slot, each attempt waits for the shared limiter at most
    ``RESPQ_DEFER_THRESHOLD`` (+ up to 1 s of spread; longer waits hand the request to a
    later job), is cut at ``RESPQ_REQUEST_TIMEOUT`` (one deadline, connect to last byte),
    and backs off at most ``RESPQ_DEFER_THRESHOLD`` before the next (longer backoffs
    defer too); no attempt starts after ``RESPQ_RETRY_MAX_TIME``. One lease more covers
    the write-back and the renewal that publishes the time. Requests still waiting for a
    slot are bounded by the job itself: ``tasks.py`` cancels a job at
    ``RESPQ_JOB_TIMEOUT``.
    """

    lease_s: float
    request_s: float
    job_s: float

    @classmethod
    def of(cls, config: WorkerConfig) -> InFlightBounds:
        attempt = config.request_timeout + 2 * config.defer_threshold + 1
        attempts = min(config.max_attempts * attempt, config.retry_max_time + attempt)
        return cls(
            lease_s=config.lease_seconds,
            request_s=attempts + config.lease_seconds,
            job_s=config.job_timeout + config.lease_seconds,
        )


class JobLease:
    """One run of one job: its token, its requests, and what it knows of its lease."""

    def __init__(
        self, scripts: ScriptSet, batch_id: str, job_id: str, bounds: InFlightBounds
    ) -> None:
        self.scripts = scripts
        self.batch_id = batch_id
        self.job_id = job_id
        self.bounds = bounds
        self.token = secrets.token_hex(8)
        self.claimed_ms = int(time.time() * 1000)
        self.lease_ms = int(bounds.lease_s * 1000)
        self.held_until = time.monotonic() + bounds.lease_s * TRUSTED_SHARE
        self.lost = False
        # the key was written again after it had lapsed: another run may have sent some
        # of the requests meanwhile, so they are confirmed before the next send
        self.doubtful = False
        self.pending: set[str] = set()  # claimed and not finished here
        self.gone: set[str] = set()  # recorded or owned elsewhere: never sent from here
        self.started: dict[str, int] = {}  # custom_id -> when it took its slot (ms)
        self._asking = asyncio.Lock()

    @property
    def progress_key(self) -> str:
        return ARQ_IN_PROGRESS_PREFIX + self.job_id

    def value(self) -> str:
        """What the in-progress key holds: this run's token and when its requests are
        overdue (the earliest started request's bound, else the job's)."""
        if self.started:
            overdue = min(self.started.values()) + int(self.bounds.request_s * 1000)
        else:
            overdue = self.claimed_ms + int(self.bounds.job_s * 1000)
        return f"{self.token}:{overdue}"

    def claimed(self, custom_ids: Iterable[str]) -> None:
        self.pending.update(custom_ids)

    def start(self, custom_id: str) -> None:
        self.started[custom_id] = int(time.time() * 1000)

    def finish(self, custom_id: str) -> None:
        self.started.pop(custom_id, None)
        self.pending.discard(custom_id)

    def renewed(self, state: str, asked_at: float) -> None:
        """Apply what a renewal sent at monotonic ``asked_at`` found."""
        if state == "held" and not self.doubtful:
            self.held_until = asked_at + self.bounds.lease_s * TRUSTED_SHARE
        elif state == "restored":
            self.doubtful = True
        elif state == "lost":
            self._lose()

    async def confirm(self, custom_id: str) -> None:
        """Return when this run may send ``custom_id``; LeaseLost when it may not."""
        if not self.doubtful and time.monotonic() < self.held_until:
            if self.lost or custom_id in self.gone:
                raise LeaseLost(f"{self.batch_id}/{custom_id} is no longer this worker's")
            return
        async with self._asking:  # one question per job, however many requests wait
            if not self.lost and (self.doubtful or time.monotonic() >= self.held_until):
                await self._ask()
        if self.lost or custom_id in self.gone:
            raise LeaseLost(f"{self.batch_id}/{custom_id} is no longer this worker's")

    async def _ask(self) -> None:
        keys = BatchKeys(self.batch_id)
        asked_at = time.monotonic()
        answer = await self.scripts["confirm"](
            progress=self.progress_key,
            batch=keys,
            token=self.token,
            value=self.value(),
            lease_ms=self.lease_ms,
            job_id=self.job_id,
            custom_ids=sorted(self.pending),
        )
        state = _text(answer[0])
        if state == "lost":
            self._lose()
            return
        self.gone.update(_text(cid) for cid in answer[1:])
        self.doubtful = False
        self.held_until = asked_at + self.bounds.lease_s * TRUSTED_SHARE

    def _lose(self) -> None:
        if not self.lost:
            log.warning(
                "job %s: another worker took it over (this one stalled past its lease); "
                "its %d unfinished request(s) are left to that worker",
                self.job_id,
                len(self.pending),
                extra={"batch_id": self.batch_id},
            )
        self.lost = True


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def lease_scripts(redis: Redis) -> ScriptSet:
    return ScriptSet(redis, ["renew", "confirm"])


__all__ = ["InFlightBounds", "JobLease", "LeaseLost", "lease_scripts"]

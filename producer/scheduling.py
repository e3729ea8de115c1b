"""Fair scheduling: how a batch's priority becomes its share of the workers.

Active batches take turns at dispatch (``contract/lua/dispatch.lua``), a job of up to
``RESPQ_CHUNK_SIZE`` requests at a time, by weighted virtual time: a batch with priority
``N`` has weight ``2 ** N``, so over any stretch of time it gets that many times the
requests of a priority-0 batch (priority 1 doubles a share, -1 halves it). Priority
``"urgent"`` is a class of its own, served before every other batch while it has work.
``max_in_flight`` caps the batch's requests in flight across all workers, so one batch can
be held to a provider's concurrency limit without holding back the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from respq.contract.constants import BatchKeys, schedule_keys
from respq.contract.errors import InvalidOption

Priority = int | Literal["urgent"]
URGENT: Literal["urgent"] = "urgent"
MIN_PRIORITY, MAX_PRIORITY = -10, 10


@dataclass(frozen=True, slots=True)
class Scheduling:
    """A batch's scheduling fields, as stored in its meta hash."""

    weight: float = 1.0
    urgent: bool = False
    max_in_flight: int = 0

    @classmethod
    def of(cls, priority: Priority = 0, max_in_flight: int | None = None) -> Scheduling:
        if max_in_flight is not None and (
            isinstance(max_in_flight, bool)
            or not isinstance(max_in_flight, int)
            or max_in_flight < 1
        ):
            raise InvalidOption(f"max_in_flight must be a whole number >= 1, got {max_in_flight!r}")
        cap = max_in_flight or 0
        if priority == URGENT:
            return cls(1.0, True, cap)
        if (
            isinstance(priority, bool)
            or not isinstance(priority, int)
            or not MIN_PRIORITY <= priority <= MAX_PRIORITY
        ):
            raise InvalidOption(
                f"priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} "
                f"or 'urgent', got {priority!r}"
            )
        return cls(2.0**priority, False, cap)

    def meta_args(self) -> list[str | int]:
        return [repr(self.weight), int(self.urgent), self.max_in_flight]


def parse_priority(text: str) -> Priority:
    """The CLI's ``--priority``: a whole number or ``urgent``."""
    value = text.strip().lower()
    if value == URGENT:
        return URGENT
    try:
        return int(value)
    except ValueError:
        raise InvalidOption(
            f"--priority takes a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} or "
            f"'urgent', got {text!r}"
        ) from None


async def dispatch_shares(redis: Redis, queue_name: str) -> dict[str, str]:
    """Each scheduled batch's share of dispatch on ``queue_name``, by weight among the
    batches with jobs waiting: "50%", or "urgent" for the urgent class, which goes first."""
    normal, urgent = schedule_keys(queue_name)
    pipe = redis.pipeline(transaction=False)
    pipe.zrange(normal, 0, -1)
    pipe.zrange(urgent, 0, -1)
    waiting, first = await pipe.execute()
    names = [raw.decode() for raw in waiting]
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hget(BatchKeys(name).meta, "weight")
    weights = [float(w or 1) for w in await pipe.execute()]
    total = sum(weights) or 1.0
    out = {name: f"{w / total:.0%}" for name, w in zip(names, weights, strict=True)}
    out.update({raw.decode(): "urgent" for raw in first})
    return out

"""What a worker did lately, for its heartbeat (``worker/lease.py``), where the dashboard's
workers and limits pages read it.

Per rate-limit scope (base URL + model): the limits this worker applies, the requests it
sent and the tokens they used in the last minute, and the 429s it received. For the
worker: its host and pid, its lease (a reader's measure of "gone") and its results
recorded, as a count and a rate. All of it is counted in memory, a few additions per
request, and written with the heartbeat the worker sends anyway: no Redis command of its
own.

Fields added to ``respq:worker:<id>``: ``host``, ``pid``, ``lease_ms``, ``recorded``,
``rate`` (results per second since the previous heartbeat) and ``scopes``: JSON, by scope
tag (``respq.contract.constants.limit_tag``), of ``{"label", "rpm", "tpm", "algorithm",
"sent_1m", "tokens_1m", "window_s", "r429", "r429_1m"}``. ``label`` is the base URL
without credentials or query, and the model.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from respq.contract.constants import limit_tag
from respq.worker.limiter import Limits

SLOT_S = 5
SLOTS = 12  # a sliding minute


class MinuteCounter:
    """What was added in the last minute, in SLOTS slots of SLOT_S seconds."""

    __slots__ = ("_stamps", "_values")

    def __init__(self) -> None:
        self._values = [0] * SLOTS
        self._stamps = [-1] * SLOTS

    def add(self, n: int, now: float) -> None:
        tick = int(now // SLOT_S)
        slot = tick % SLOTS
        if self._stamps[slot] != tick:
            self._stamps[slot] = tick
            self._values[slot] = 0
        self._values[slot] += n

    def total(self, now: float) -> int:
        tick = int(now // SLOT_S)
        return sum(
            value
            for value, stamp in zip(self._values, self._stamps, strict=True)
            if 0 <= tick - stamp < SLOTS
        )


def covered_seconds(now: float) -> float:
    """How much time ``MinuteCounter.total`` spans: the full slots and the current one."""
    return (SLOTS - 1) * SLOT_S + now % SLOT_S


def scope_label(scope: str) -> str:
    """A scope as a person reads it, safe to store: the base URL's scheme, host and path
    (no user, password or query) and the model."""
    url, _, model = scope.rpartition("|")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url.split("?")[0]
    return f"{shown} {model}".strip()


@dataclass(slots=True)
class ScopeState:
    label: str
    limits: Limits
    sent: MinuteCounter = field(default_factory=MinuteCounter)
    tokens: MinuteCounter = field(default_factory=MinuteCounter)
    limited: MinuteCounter = field(default_factory=MinuteCounter)
    limited_total: int = 0


class ScopeActivity:
    """This worker's traffic per rate-limit scope (fed by ``worker/sender.py``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.scopes: dict[str, ScopeState] = {}

    def _state(self, scope: str, limits: Limits) -> ScopeState:
        state = self.scopes.get(scope)
        if state is None:
            state = self.scopes[scope] = ScopeState(scope_label(scope), limits)
        return state

    def sent(self, scope: str, limits: Limits) -> None:
        self._state(scope, limits).sent.add(1, self.clock())

    def used(self, scope: str, limits: Limits, tokens: int) -> None:
        if tokens > 0:
            self._state(scope, limits).tokens.add(tokens, self.clock())

    def rate_limited(self, scope: str, limits: Limits) -> None:
        state = self._state(scope, limits)
        state.limited.add(1, self.clock())
        state.limited_total += 1

    def snapshot(self) -> dict[str, dict[str, object]]:
        now = self.clock()
        window = min(covered_seconds(now), max(now - self.started, 1.0))
        return {
            limit_tag(scope): {
                "label": state.label,
                "rpm": state.limits.rpm,
                "tpm": state.limits.tpm,
                "algorithm": state.limits.algorithm,
                "sent_1m": state.sent.total(now),
                "tokens_1m": state.tokens.total(now),
                "window_s": round(window, 1),
                "r429": state.limited_total,
                "r429_1m": state.limited.total(now),
            }
            for scope, state in self.scopes.items()
        }


class WorkerActivity:
    """The heartbeat's extra fields (see the module docstring)."""

    def __init__(
        self,
        scopes: ScopeActivity,
        recorded: Callable[[], int],
        *,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scopes = scopes
        self.recorded = recorded
        self.lease_ms = int(lease_seconds * 1000)
        self.clock = clock
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._last: tuple[float, int] | None = None

    def fields(self) -> dict[str, str | int]:
        now, count = self.clock(), self.recorded()
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = (count - self._last[1]) / (now - self._last[0])
        self._last = (now, count)
        return {
            "host": self.host,
            "pid": self.pid,
            "lease_ms": self.lease_ms,
            "recorded": count,
            "rate": f"{rate:.3f}",
            "scopes": orjson.dumps(self.scopes.snapshot()).decode(),
        }


__all__ = ["MinuteCounter", "ScopeActivity", "WorkerActivity", "scope_label"]

"""What the workers report about themselves, read from Redis: each worker's heartbeat
(``worker/lease.py``, ``worker/activity.py``) and, per rate-limit scope, the limits the
workers apply, what they used in the last minute, the 429s they received and the shared
state the limiter keeps (cool-down, rate multiplier, the provider's announced limits).

A worker renews its heartbeat every third of its lease. One silent for two of those
periods is shown as gone, so a killed worker is marked gone well within one lease; its
heartbeat hash expires after two leases, its entry in ``respq:workers`` stays (with the
time it was last seen) until a worker that stops cleanly removes its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from respq.contract.constants import WORKER_INFO_PREFIX, WORKERS_KEY, limit_keys

DEFAULT_LEASE_S = 30.0  # workers older than their lease_ms field
HEARTBEATS_MISSED = 2  # silent for this many renewal periods: gone
GONE_SHOWN_S = 3600  # gone workers stay listed this long after their last heartbeat


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: str | None, default: float = 0.0) -> float:
    try:
        return default if value is None else float(value)
    except ValueError:
        return default


@dataclass(slots=True)
class WorkerView:
    """One worker as its last heartbeat left it; ``gone_since`` is that heartbeat's time
    once it stopped reporting."""

    id: str
    seen_at: float
    lease_s: float = DEFAULT_LEASE_S
    gone_since: float | None = None
    host: str = ""
    pid: int = 0
    started_at: float = 0.0
    in_flight: int = 0
    jobs: int = 0
    recorded: int = 0
    rate: float = 0.0
    redis: str = "-"
    redis_outages: int = 0
    redis_last_outage_s: float = 0.0
    redis_last_error: str = ""
    requeued: int = 0
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def gone(self) -> bool:
        return self.gone_since is not None

    @classmethod
    def of(cls, member: str, seen_at: float, raw: dict[str, str], now: float) -> WorkerView:
        lease_s = _number(raw.get("lease_ms"), DEFAULT_LEASE_S * 1000) / 1000
        silent_for = now - seen_at
        # An expired heartbeat hash means two leases of silence: gone whatever it said.
        gone = not raw or silent_for > HEARTBEATS_MISSED * lease_s / 3
        host, _, pid = member.rpartition(":")
        try:
            scopes = orjson.loads(raw.get("scopes") or "{}")
        except orjson.JSONDecodeError:
            scopes = {}
        return cls(
            id=raw.get("id") or member,
            seen_at=seen_at,
            lease_s=lease_s,
            gone_since=seen_at if gone else None,
            host=raw.get("host") or host,
            pid=int(_number(raw.get("pid") or (pid if pid.isdigit() else None))),
            started_at=_number(raw.get("started_at")),
            in_flight=int(_number(raw.get("in_flight"))),
            jobs=int(_number(raw.get("jobs"))),
            recorded=int(_number(raw.get("recorded"))),
            rate=_number(raw.get("rate")),
            redis=raw.get("redis") or "-",
            redis_outages=int(_number(raw.get("redis_outages"))),
            redis_last_outage_s=_number(raw.get("redis_last_outage_ms")) / 1000,
            redis_last_error=raw.get("redis_last_error") or "",
            requeued=int(_number(raw.get("requeued"))),
            scopes=scopes if isinstance(scopes, dict) else {},
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "state": "gone" if self.gone else "live",
            "gone_since": self.gone_since,
            "last_heartbeat": self.seen_at,
            "lease_seconds": self.lease_s,
            "started_at": self.started_at or None,
            "in_flight": self.in_flight,
            "jobs": self.jobs,
            "recorded": self.recorded,
            "rate": self.rate,
            "redis": self.redis,
            "redis_outages": self.redis_outages,
            "redis_last_outage_s": self.redis_last_outage_s,
            "requeued": self.requeued,
        }


async def read_workers(redis: Redis, now: float | None = None) -> list[WorkerView]:
    """Live workers first (by id), then those gone in the last GONE_SHOWN_S, latest first."""
    now = time.time() if now is None else now
    members = await redis.zrangebyscore(WORKERS_KEY, now - GONE_SHOWN_S, "+inf", withscores=True)
    if not members:
        return []
    pipe = redis.pipeline(transaction=False)
    for member, _ in members:
        pipe.hgetall(WORKER_INFO_PREFIX + _text(member))
    answers = await pipe.execute()
    views = [
        WorkerView.of(
            _text(member), float(score), {_text(k): _text(v) for k, v in raw.items()}, now
        )
        for (member, score), raw in zip(members, answers, strict=True)
    ]
    live = sorted((v for v in views if not v.gone), key=lambda v: v.id)
    gone = sorted((v for v in views if v.gone), key=lambda v: -v.seen_at)
    return live + gone


@dataclass(slots=True)
class ScopeView:
    """One rate-limit scope (base URL + model) as the live workers and the limiter see it.
    ``rpm``/``tpm`` are the configured limits (0 = unlimited; the largest any live worker
    applies), ``provider_rpm``/``provider_tpm`` what the provider's headers announced
    (they tighten the configured ones), ``multiplier`` the limiter's rate cut after 429s,
    ``used_rpm``/``used_tpm`` the last minute's sends and tokens over all live workers,
    ``cool_down_s`` what is left of a shared 429 cool-down."""

    tag: str
    label: str
    rpm: int = 0
    tpm: int = 0
    algorithm: str = "gcra"
    provider_rpm: int = 0
    provider_tpm: int = 0
    multiplier: float = 1.0
    used_rpm: float = 0.0
    used_tpm: float = 0.0
    rate_limited: int = 0
    rate_limited_1m: int = 0
    cool_down_s: float = 0.0
    workers: int = 0

    @property
    def effective_rpm(self) -> float:
        return _effective(self.rpm, self.provider_rpm, self.multiplier)

    @property
    def effective_tpm(self) -> float:
        return _effective(self.tpm, self.provider_tpm, self.multiplier)

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": self.label,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "algorithm": self.algorithm,
            "provider_rpm": self.provider_rpm or None,
            "provider_tpm": self.provider_tpm or None,
            "multiplier": self.multiplier,
            "effective_rpm": self.effective_rpm,
            "effective_tpm": self.effective_tpm,
            "used_rpm": round(self.used_rpm, 1),
            "used_tpm": round(self.used_tpm, 1),
            "rate_limited": self.rate_limited,
            "rate_limited_last_minute": self.rate_limited_1m,
            "cool_down_s": round(self.cool_down_s, 2),
            "workers": self.workers,
        }


def _effective(configured: int, provider: int, multiplier: float) -> float:
    """The limit the limiter spaces requests by (0 = unlimited)."""
    if configured <= 0:
        return 0.0
    limit = provider if 0 < provider < configured else configured
    return round(limit * multiplier, 1)


async def read_limits(redis: Redis, workers: list[WorkerView]) -> list[ScopeView]:
    """Every scope a live worker has sent to, with the limiter's shared state."""
    scopes: dict[str, ScopeView] = {}
    for worker in workers:
        if worker.gone:
            continue
        for tag, data in worker.scopes.items():
            view = scopes.get(tag)
            if view is None:
                view = scopes[tag] = ScopeView(tag, str(data.get("label") or tag))
            view.rpm = max(view.rpm, int(data.get("rpm") or 0))
            view.tpm = max(view.tpm, int(data.get("tpm") or 0))
            view.algorithm = str(data.get("algorithm") or view.algorithm)
            per_minute = 60 / max(float(data.get("window_s") or 60), 1.0)
            view.used_rpm += int(data.get("sent_1m") or 0) * per_minute
            view.used_tpm += int(data.get("tokens_1m") or 0) * per_minute
            view.rate_limited += int(data.get("r429") or 0)
            view.rate_limited_1m += int(data.get("r429_1m") or 0)
            view.workers += 1
    if not scopes:
        return []
    pipe = redis.pipeline(transaction=False)
    pipe.time()
    for tag in scopes:
        keys = limit_keys(tag)
        pipe.get(keys["cool"])
        pipe.hget(keys["mult"], "m")
        pipe.hmget(keys["hdr"], ["rpm", "tpm"])
    answers = await pipe.execute()
    seconds, micros = answers[0]
    redis_now = float(seconds) + float(micros) / 1e6
    for index, view in enumerate(scopes.values()):
        cool, mult, (prov_rpm, prov_tpm) = answers[1 + 3 * index : 4 + 3 * index]
        view.cool_down_s = max(0.0, _number(_text(cool), 0.0) - redis_now) if cool else 0.0
        view.multiplier = _number(_text(mult), 1.0) if mult else 1.0
        view.provider_rpm = int(_number(_text(prov_rpm))) if prov_rpm else 0
        view.provider_tpm = int(_number(_text(prov_tpm))) if prov_tpm else 0
    return sorted(scopes.values(), key=lambda v: v.label)


__all__ = ["ScopeView", "WorkerView", "read_limits", "read_workers"]

"""A batch's timeline: what its requests did over time, in a fixed number of buckets.

The workers write it in the same script call that records results (``record_many.lua``
with ``contract/lua/timeline_lib.lua``), so it costs no round trip of its own; the dashboard
(``respq serve``), ``GET /v1/batches/{id}/timeline`` and ``respq status --timeline`` read
it with one ``HGETALL``.

Why a width that doubles: a batch may run for seconds or for days, and its whole life
must stay visible in a bounded hash. Buckets start ``BASE_WIDTH_MS`` wide, counted from
the first recorded result; when a result falls past the last of ``BUCKETS`` buckets, the
width doubles (as often as needed) and neighbouring buckets merge in the same call. A
batch therefore always has between ``BUCKETS / 2`` and ``BUCKETS`` buckets once it is
older than ``BUCKETS`` seconds (120 buckets of 1 s for two minutes, of 16 min after a day
and a bit), and the early history is coarser, never lost. A ring of buckets at a fixed
resolution would instead forget the start of a long batch, which is when the errors
often began.

Layout of ``respq:{B}:timeline`` (a hash):

=========  ============================================================================
field      value
=========  ============================================================================
``t0``     ms since the epoch of the first recorded result (the worker's clock)
``w``      bucket width, ms
``b<i>``   bucket ``i`` (starts at ``t0 + i·w``), JSON: ``s`` succeeded, ``f`` failed,
           ``i`` / ``o`` input / output tokens, ``e`` {code: failed requests},
           ``l`` {latency bin: requests}
=========  ============================================================================

Latency is the last upstream attempt's, from send to the whole answer, in log-spaced bins
(``LATENCY_STEPS`` per doubling from 1 ms: each bin is 19 % wide, so a percentile read
from the bins is within about 9 % of the true one). Bin numbers travel to the script as
one byte per result (``latency_codes``). What the timeline counts: the requests a worker
sent and recorded. Requests that end without being sent (``batch_cancelled``,
``batch_expired``, ``dependency_failed``) are in the batch's counts but not in its
timeline, and a request re-run by ``respq retry`` is counted each time it ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from respq.contract.constants import BatchKeys

BUCKETS = 120
BASE_WIDTH_MS = 1000
LATENCY_FLOOR_S = 0.001
LATENCY_STEPS = 4  # bins per doubling
# bin 0 is below 1 ms; the last bin holds everything from 2**20 ms (about 17 minutes) on
LATENCY_BINS = 20 * LATENCY_STEPS + 2
NO_LATENCY = 0  # the byte of a result without an upstream answer time


def latency_bin(seconds: float) -> int:
    """The histogram bin of one latency."""
    if not seconds > LATENCY_FLOOR_S:  # also NaN
        return 0
    step = int(math.log2(seconds / LATENCY_FLOOR_S) * LATENCY_STEPS) + 1
    return min(step, LATENCY_BINS - 1)


def bin_bounds(number: int) -> tuple[float, float]:
    """[low, high) of a bin, in seconds (the last bin's high is infinite)."""
    if number <= 0:
        return 0.0, LATENCY_FLOOR_S
    low = LATENCY_FLOOR_S * 2 ** ((number - 1) / LATENCY_STEPS)
    if number >= LATENCY_BINS - 1:
        return low, math.inf
    return low, LATENCY_FLOOR_S * 2 ** (number / LATENCY_STEPS)


def bin_value(number: int) -> float:
    """The value a percentile that falls in this bin reports: the bin's geometric middle."""
    low, high = bin_bounds(number)
    if number <= 0:
        return LATENCY_FLOOR_S / 2
    if math.isinf(high):
        return low
    return math.sqrt(low * high)


def latency_codes(latencies: Iterable[float | None]) -> bytes:
    """One byte per result, as record_many.lua reads them: bin + 1, or NO_LATENCY."""
    return bytes(NO_LATENCY if s is None else latency_bin(s) + 1 for s in latencies)


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) of a latency histogram, None when it is empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for number in sorted(histogram):
        seen += histogram[number]
        if seen >= rank:
            return bin_value(number)
    return bin_value(max(histogram))


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)


@dataclass(slots=True)
class Bucket:
    """One stretch of the batch's life: ``start`` (epoch seconds) and ``seconds`` wide."""

    start: float
    seconds: float
    succeeded: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[int, int] = field(default_factory=dict)

    @classmethod
    def decode(cls, start: float, seconds: float, raw: bytes | str) -> Bucket:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            start,
            seconds,
            int(data.get("s") or 0),
            int(data.get("f") or 0),
            int(data.get("i") or 0),
            int(data.get("o") or 0),
            {str(k): int(n) for k, n in (data.get("e") or {}).items()},
            {int(k): int(n) for k, n in (data.get("l") or {}).items()},
        )

    def add(self, other: Bucket) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        for code, n in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + n
        for number, n in other.latency.items():
            self.latency[number] = self.latency.get(number, 0) + n

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    def p50(self) -> float | None:
        return quantile(self.latency, 0.5)

    def p95(self) -> float | None:
        return quantile(self.latency, 0.95)

    def as_json(self, span: float | None = None) -> dict[str, Any]:
        """The bucket as the API and the dashboard show it; ``span`` is the part of it that
        has passed (the last bucket of a running batch is still filling), for the rates."""
        span = max(min(span if span is not None else self.seconds, self.seconds), 1.0)
        return {
            "start": self.start,
            "seconds": self.seconds,
            "span": span,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "errors": dict(sorted(self.errors.items())),
            "requests_per_second": round(self.finished / span, 4),
            "input_tokens_per_minute": round(self.input_tokens * 60 / span, 2),
            "output_tokens_per_minute": round(self.output_tokens * 60 / span, 2),
            "latency_p50": _rounded(self.p50()),
            "latency_p95": _rounded(self.p95()),
        }


@dataclass(slots=True)
class Timeline:
    """A batch's buckets in order, with the empty ones between filled in as zeros."""

    started_at: float | None = None
    bucket_seconds: float = BASE_WIDTH_MS / 1000
    buckets: list[Bucket] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: Mapping[bytes, bytes], *, until: float | None = None) -> Timeline:
        """From the hash; ``until`` (epoch seconds, for a running batch: now) extends the
        series with empty buckets up to that moment, so a stall shows as zeros."""
        fields = {k.decode(): v for k, v in raw.items()}
        if "t0" not in fields:
            return cls()
        t0 = int(fields["t0"]) / 1000
        width = int(fields.get("w") or BASE_WIDTH_MS) / 1000
        found: dict[int, bytes] = {
            int(name[1:]): value
            for name, value in fields.items()
            if name.startswith("b") and name[1:].isdigit()
        }
        last = max(found, default=-1)
        if until is not None and until >= t0:
            last = max(last, min(int((until - t0) // width), BUCKETS - 1))
        buckets = [
            Bucket.decode(t0 + i * width, width, found[i])
            if i in found
            else Bucket(t0 + i * width, width)
            for i in range(last + 1)
        ]
        return cls(t0, width, buckets)

    def totals(self) -> Bucket:
        total = Bucket(self.started_at or 0.0, self.bucket_seconds * len(self.buckets))
        for bucket in self.buckets:
            total.add(bucket)
        return total

    def as_json(self, end: float | None = None) -> dict[str, Any]:
        """Buckets and totals as the API shows them; ``end`` (epoch seconds: now for a
        running batch, its end for an ended one) bounds the rates of the last bucket."""
        totals = self.totals()
        span = (end if end is not None else time.time()) - (self.started_at or 0.0)
        return {
            "started_at": self.started_at,
            "bucket_seconds": self.bucket_seconds,
            "max_buckets": BUCKETS,
            "buckets": [
                b.as_json(span=None if end is None else end - b.start) for b in self.buckets
            ],
            "totals": {**totals.as_json(span), "start": self.started_at},
        }

    def resampled(self, points: int) -> Timeline:
        """At most ``points`` buckets, neighbours merged (for a terminal's width)."""
        if len(self.buckets) <= points or points <= 0:
            return self
        factor = math.ceil(len(self.buckets) / points)
        merged: list[Bucket] = []
        for first in range(0, len(self.buckets), factor):
            group = self.buckets[first : first + factor]
            bucket = Bucket(group[0].start, self.bucket_seconds * factor)
            for part in group:
                bucket.add(part)
            merged.append(bucket)
        return Timeline(self.started_at, self.bucket_seconds * factor, merged)


async def read_timeline(redis: Redis, batch_id: str, *, until: float | None = None) -> Timeline:
    """The batch's timeline from Redis (one HGETALL); ``until`` as in ``Timeline.parse``."""
    raw: dict[bytes, bytes] = await redis.hgetall(BatchKeys(batch_id).timeline)  # type: ignore[misc]
    return Timeline.parse(raw, until=until)


__all__ = [
    "BASE_WIDTH_MS",
    "BUCKETS",
    "LATENCY_BINS",
    "Bucket",
    "Timeline",
    "bin_bounds",
    "latency_bin",
    "latency_codes",
    "quantile",
    "read_timeline",
]

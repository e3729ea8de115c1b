"""How fast a batch goes and how long it has left, from its status alone: the pace the
``respq`` progress bar, ``respq status`` and the dashboard show, and how their durations
read."""

from __future__ import annotations

import time
from dataclasses import dataclass

from respq.producer.batch_info import BatchInfo


@dataclass(frozen=True)
class Pace:
    """How fast a batch goes: requests done per second since it started, and an ETA."""

    rate: float | None
    eta: float | None

    @classmethod
    def of(cls, info: BatchInfo, now: float | None = None) -> Pace:
        if not info.in_progress_at:
            return cls(None, None)
        end = info.completed_at or info.cancelled_at or info.expired_at
        end_time = float(end) if info.is_terminal and end else (now or time.time())
        # Timestamps are whole seconds: count at least one so a fast batch has a rate.
        elapsed = max(end_time - info.in_progress_at, 1.0)
        if info.done == 0:
            return cls(None, None)
        rate = info.done / elapsed
        remaining = max(info.request_counts.total - info.done, 0)
        return cls(rate, 0.0 if info.is_terminal else remaining / rate)


def duration(seconds: float | None) -> str:
    """Seconds as people read them: "42s", "3m07s", "2h05m", "1d03h"; "-" for none."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"

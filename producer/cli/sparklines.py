"""``respq status BATCH --timeline``: the batch's timeline (``contract/timeline.py``) as
terminal sparklines, one row per series, as wide as the terminal allows."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

from rich import box
from rich.table import Table
from rich.text import Text

from respq.contract.timeline import Bucket, Timeline
from respq.producer.pacing import duration

Shown = Callable[[float | None], str]
BARS = "▁▂▃▄▅▆▇█"
# label, sparkline and figures; what is left of the width goes to the sparkline
FIXED_COLUMNS = 44
MIN_POINTS, MAX_POINTS = 10, 120


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled to the largest; a gap for no value, the lowest bar
    for zero."""
    top = max((v for v in values if v is not None), default=0.0)
    chars = []
    for value in values:
        if value is None:
            chars.append(" ")
        elif top <= 0 or value <= 0:
            chars.append(BARS[0])
        else:
            chars.append(BARS[min(int(value / top * (len(BARS) - 1) + 0.5), len(BARS) - 1)])
    return "".join(chars)


def _failed_with(code: str, bucket: Bucket) -> int:
    return bucket.errors.get(code, 0)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def timeline_view(
    timeline: Timeline, width: int, end: float | None = None, now: float | None = None
) -> Table | Text:
    """The sparklines table (or one line when nothing was recorded yet). ``end`` is where
    the timeline ends (now for a running batch): the last bucket's rates count only the
    part of it that has passed."""
    if not timeline.buckets or timeline.started_at is None:
        return Text("timeline: no results recorded yet")
    now = time.time() if now is None else now
    points = max(MIN_POINTS, min(MAX_POINTS, width - FIXED_COLUMNS))
    shown = timeline.resampled(points)
    spans = [b.seconds for b in shown.buckets]
    if end is not None:
        spans[-1] = max(min(end - shown.buckets[-1].start, spans[-1]), 1.0)
    started = time.strftime("%H:%M:%S", time.localtime(timeline.started_at))
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"timeline since {started} ({duration(now - timeline.started_at)} ago), "
        f"one bar per {duration(shown.bucket_seconds)}",
        title_justify="left",
    )
    table.add_column("series", no_wrap=True)
    table.add_column("over time", no_wrap=True)
    table.add_column("last", justify="right", no_wrap=True)
    table.add_column("peak", justify="right", no_wrap=True)

    def add(label: str, values: list[float | None], shown_as: Shown) -> None:
        present = [v for v in values if v is not None]
        peak = max(present) if present else None
        table.add_row(label, sparkline(values), shown_as(values[-1]), shown_as(peak))

    def rate(count: Callable[[Bucket], int], per: float = 1.0) -> list[float | None]:
        return [count(b) * per / span for b, span in zip(shown.buckets, spans, strict=True)]

    add("requests/s", rate(lambda b: b.finished), _number)
    add("  failed/s", rate(lambda b: b.failed), _number)
    for code in sorted({code for b in shown.buckets for code in b.errors}):
        add(f"    {code}/s", rate(partial(_failed_with, code)), _number)
    add("input tok/min", rate(lambda b: b.input_tokens, 60), _number)
    add("output tok/min", rate(lambda b: b.output_tokens, 60), _number)
    add("latency p50", [b.p50() for b in shown.buckets], _seconds)
    add("latency p95", [b.p95() for b in shown.buckets], _seconds)
    return table


__all__ = ["sparkline", "timeline_view"]

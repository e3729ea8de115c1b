"""``respq top``: a live table of batches (status, endpoint, progress, rate, tokens/min,
errors)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Annotated

import typer
from rich import box
from rich.live import Live
from rich.table import Table

from respq.producer.batch_info import BatchInfo
from respq.producer.cli.app import State, app, console, get_state, run_async
from respq.producer.cli.manage import live_workers

# Finished batches stay on screen for this long after they end.
RECENT_S = 600


@dataclass(frozen=True)
class Sample:
    """One batch at one moment: enough to turn two frames into rates."""

    at: float
    done: int
    tokens: int


@dataclass(frozen=True)
class Row:
    info: BatchInfo
    rate: float | None  # requests per second
    tokens_per_min: float | None


def configured_tpm() -> int:
    try:
        return max(int(os.environ.get("RESPQ_TPM", "0") or 0), 0)
    except ValueError:
        return 0


def _ended_at(info: BatchInfo) -> int | None:
    return info.completed_at or info.cancelled_at or info.expired_at


def rows_for(
    infos: list[BatchInfo], previous: dict[str, Sample], now: float
) -> tuple[list[Row], dict[str, Sample]]:
    """Rates from the previous frame when there is one, else averages since the start."""
    rows: list[Row] = []
    samples: dict[str, Sample] = {}
    for info in infos:
        ended = _ended_at(info)
        if info.is_terminal and ended and now - ended > RECENT_S:
            continue
        sample = Sample(now, info.done, info.usage.total_tokens)
        samples[info.id] = sample
        before = previous.get(info.id)
        rate: float | None = None
        tpm: float | None = None
        if before is not None and now > before.at and not info.is_terminal:
            elapsed = now - before.at
            rate = (sample.done - before.done) / elapsed
            tpm = (sample.tokens - before.tokens) / elapsed * 60
        elif info.in_progress_at:
            end = float(ended) if info.is_terminal and ended else now
            elapsed = max(end - info.in_progress_at, 1.0)
            rate = info.done / elapsed
            tpm = info.usage.total_tokens / elapsed * 60
        rows.append(Row(info, rate, tpm))
    return rows, samples


def _rate(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def frame(
    rows: list[Row], *, workers: int, tpm_limit: int, shares: dict[str, str] | None = None
) -> Table:
    """One frame; ``shares`` gives each scheduled batch's share of dispatch."""
    shares = shares or {}
    active = [r for r in rows if not r.info.is_terminal]
    tokens_now = sum(r.tokens_per_min or 0 for r in active)
    limit = f" of RESPQ_TPM {tpm_limit:,}" if tpm_limit else ""
    title = (
        f"respq top: {len(active)} active batch(es), {workers} live worker(s), "
        f"{tokens_now:,.0f} tokens/min{limit}"
    )
    cells: list[list[str]] = []
    for row in rows:
        info = row.info
        counts = info.request_counts
        cells.append(
            [
                info.id,
                str(info.status),
                info.endpoint.removeprefix("/v1/"),
                f"{info.done}/{counts.total}",
                _rate(row.rate, ".1f"),
                _rate(row.tokens_per_min, ",.0f"),
                str(counts.failed),
                str(info.in_flight),
                shares.get(info.id, "-"),
            ]
        )
    if not cells:
        cells.append(["no batches", "", "", "", "", "", "", "", ""])
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    # Numbers and ids are never wrapped or cut (ids are copied into other commands); only
    # the status may be shortened on a narrow terminal.
    names = ("id", "status", "endpoint", "done", "req/s", "tok/min", "err", "infl", "share")
    for i, name in enumerate(names):
        width = max(len(name), *(len(c[i]) for c in cells))
        table.add_column(
            name,
            justify="left" if i < 3 else "right",
            no_wrap=True,
            min_width=None if i == 1 else width,
        )
    for cell in cells:
        table.add_row(*cell)
    return table


async def _snapshot(state: State, limit: int) -> tuple[list[BatchInfo], int, dict[str, str]]:
    async with state.client() as client:
        infos = await client.list_batches(limit)
        shares = await client.shares()
    workers = await live_workers(state, time.time())
    return infos, len(workers), shares


@app.command()
def top(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between frames.")
    ] = 1.0,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest batches.")] = 20,
) -> None:
    """A live table of batches: status, progress, requests/s, tokens/min vs RESPQ_TPM,
    errors. Ctrl-C quits."""
    state = get_state(ctx)
    tpm_limit = configured_tpm()
    if once:
        infos, workers, shares = run_async(state, _snapshot(state, limit))
        rows, _ = rows_for(infos, {}, time.time())
        console.print(frame(rows, workers=workers, tpm_limit=tpm_limit, shares=shares))
        return

    async def loop() -> None:
        previous: dict[str, Sample] = {}
        with Live(console=console, auto_refresh=False) as live:
            while True:
                infos, workers, shares = await _snapshot(state, limit)
                rows, previous = rows_for(infos, previous, time.time())
                table = frame(rows, workers=workers, tpm_limit=tpm_limit, shares=shares)
                live.update(table, refresh=True)
                await asyncio.sleep(interval)

    try:
        run_async(state, loop())
    except typer.Exit as done:  # Ctrl-C is the normal way out
        if done.exit_code != 130:
            raise

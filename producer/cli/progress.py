"""Follow a batch until it ends: a rich progress bar on a terminal, quiet otherwise."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.pacing import Pace, duration

POLL_INTERVAL = 0.5

# Called between polls; returns a reason to stop following (a worker died), or None.
Check = Callable[[], str | None]


class StopFollowing(Exception):
    """Raised by ``follow`` when ``check`` reports a reason to give up."""


def _fields(info: BatchInfo) -> dict[str, Any]:
    pace = Pace.of(info)
    return {
        "rate": f"{pace.rate:.1f}/s" if pace.rate else "-/s",
        "eta": duration(pace.eta),
        "failed": str(info.request_counts.failed),
        "tokens": f"{info.usage.total_tokens:,}",
    }


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} eta {task.fields[eta]}"),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("tokens {task.fields[tokens]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def follow(
    batch: Batch,
    console: Console,
    *,
    poll_interval: float = POLL_INTERVAL,
    check: Check | None = None,
    stop: asyncio.Event | None = None,
) -> BatchInfo:
    """Poll until the batch reaches a terminal status (or ``stop`` is set); the last
    status read. A bar is drawn only when ``console`` is a terminal."""
    stop = stop or asyncio.Event()
    info = await batch.status()
    if not console.is_terminal:
        while not info.is_terminal and not stop.is_set():
            await _pause(stop, poll_interval, check)
            info = await batch.status()
        return info
    with _progress(console) as bar:
        task = bar.add_task(
            str(info.status),
            total=info.request_counts.total or None,
            completed=info.done,
            **_fields(info),
        )
        while True:
            bar.update(
                task,
                description=str(info.status),
                total=info.request_counts.total or None,
                completed=info.done,
                **_fields(info),
            )
            if info.is_terminal or stop.is_set():
                return info
            await _pause(stop, poll_interval, check)
            info = await batch.status()


async def _pause(stop: asyncio.Event, seconds: float, check: Check | None) -> None:
    """Wait for the next poll, waking early when ``stop`` is set."""
    if check is not None and (reason := check()):
        raise StopFollowing(reason)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

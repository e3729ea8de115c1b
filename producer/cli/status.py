"""``respq status``, ``watch`` and ``list``: read a batch's record without changing it."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from respq.contract.prices import PriceTable
from respq.contract.timeline import Timeline
from respq.producer.batch_info import BatchInfo
from respq.producer.cli.app import app, console, get_state, run_async
from respq.producer.cli.progress import follow
from respq.producer.cli.render import percent, status_view, summary_line
from respq.producer.cli.sparklines import timeline_view
from respq.producer.cli.submit import exit_code_for, print_json
from respq.producer.costs import BatchCost, batch_cost
from respq.producer.pacing import duration
from respq.producer.timeline import batch_timeline


@app.command()
def status(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print OpenAI's batch object shape as JSON.")
    ] = False,
    with_timeline: Annotated[
        bool,
        typer.Option(
            "--timeline",
            help="Also the batch's life over time: requests/s, tokens/min, errors by code and "
            "latency as sparklines (with --json: the timeline's buckets).",
        ),
    ] = False,
) -> None:
    """Status, counts, rate and ETA, usage totals (per model) and errors by code."""
    state = get_state(ctx)

    async def go() -> tuple[BatchInfo, BatchCost, str | None, tuple[Timeline, float | None] | None]:
        async with state.client() as client:
            info = await (await client.get(batch_id)).status()
            share = (await client.shares(info.queue_name)).get(info.id)
            timeline = await batch_timeline(client.redis, info) if with_timeline else None
        return info, batch_cost(info, PriceTable.from_env()), share, timeline

    info, cost, share, timeline = run_async(state, go())
    if as_json:
        extra = {"timeline": timeline[0].as_json(timeline[1])} if timeline else {}
        print_json(
            {**info.openai_shape(), "cost": cost.model_dump(mode="json"), "share": share, **extra}
        )
    else:
        console.print(status_view(info, cost=cost, share=share))
        if timeline:
            console.print(timeline_view(timeline[0], console.width, end=timeline[1]))


@app.command()
def watch(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between polls.")
    ] = 0.5,
) -> None:
    """A progress bar until the batch ends (quiet when stdout is not a terminal), then
    the status table. Exit 1 when any request failed."""
    state = get_state(ctx)

    async def go() -> BatchInfo:
        async with state.client() as client:
            batch = await client.get(batch_id)
            return await follow(batch, console, poll_interval=interval)

    info = run_async(state, go())
    if not console.is_terminal:
        console.print(summary_line(info), markup=False)
    console.print(status_view(info))
    raise typer.Exit(int(exit_code_for(info)))


@app.command("list")
def list_batches(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many, newest first.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON list of batch objects.")] = False,
) -> None:
    """Batches, newest first, with status, counts and age."""
    state = get_state(ctx)

    async def go() -> list[BatchInfo]:
        async with state.client() as client:
            return await client.list_batches(limit)

    infos = run_async(state, go())
    if as_json:
        print_json([info.openai_shape() for info in infos])
        return
    now = time.time()
    # A light box: the table must fit 80 columns when piped, with the ids whole.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    # Ids are copied into other commands: never wrap or shorten them.
    table.add_column("id", no_wrap=True, min_width=max((len(i.id) for i in infos), default=2))
    table.add_column("status", no_wrap=True, min_width=11)
    for column in ("done", "total", "ok", "failed", "age"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for info in infos:
        counts = info.request_counts
        table.add_row(
            info.id,
            str(info.status),
            f"{percent(info):.0f}%",
            str(counts.total),
            str(counts.completed),
            str(counts.failed),
            duration(now - info.created_at) if info.created_at else "-",
        )
    if not infos:
        console.print("no batches", markup=False)
        return
    console.print(table)

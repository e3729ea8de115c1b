"""``respq cancel``, ``retry``, ``workers`` and ``mock-upstream``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from respq.contract.constants import WORKER_INFO_PREFIX, WORKERS_KEY
from respq.contract.extras import require
from respq.producer.batch_info import BatchInfo
from respq.producer.cli.app import State, app, console, expected_errors, get_state, run_async
from respq.producer.cli.render import status_view
from respq.producer.cli.submit import print_json
from respq.producer.pacing import duration

# A worker renews its heartbeat every few seconds; one silent for this long is gone.
WORKER_STALE_S = 60


@app.command()
def cancel(
    ctx: typer.Context, batch_id: Annotated[str, typer.Argument(help="The batch id.")]
) -> None:
    """Cancel a batch: queued requests end as batch_cancelled, in-flight ones finish."""
    state = get_state(ctx)

    async def go() -> BatchInfo:
        async with state.client() as client:
            return await (await client.get(batch_id)).cancel()

    console.print(status_view(run_async(state, go())))


@app.command()
def retry(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    code: Annotated[
        list[str] | None,
        typer.Option("--code", help="Only failures with this error code (repeatable)."),
    ] = None,
) -> None:
    """Re-enqueue failed requests (all, or only those with --code); successes stay."""
    state = get_state(ctx)

    async def go() -> int:
        async with state.client() as client:
            return await (await client.get(batch_id)).retry(codes=code or None)

    count = run_async(state, go())
    console.print(f"{count} request(s) re-enqueued", markup=False)


@app.command()
def resume(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", min=0.000001, help="A new budget in USD (e.g. raise it)."),
    ] = None,
) -> None:
    """Resume a batch paused by its budget (--max-cost first raises the budget)."""
    state = get_state(ctx)

    async def go() -> BatchInfo:
        async with state.client() as client:
            return await (await client.get(batch_id)).resume(max_cost=max_cost)

    console.print(status_view(run_async(state, go())))


async def live_workers(state: State, now: float) -> list[dict[str, Any]]:
    async with state.client() as client, client.errors():
        redis = client.redis
        members = await redis.zrangebyscore(WORKERS_KEY, now - WORKER_STALE_S, "+inf")
        pipe = redis.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(WORKER_INFO_PREFIX + member.decode())
        answers = await pipe.execute() if members else []
    workers: list[dict[str, Any]] = []
    for member, raw in zip(members, answers, strict=True):
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        workers.append(
            {
                "id": fields.get("id") or member.decode(),
                "started_at": _number(fields.get("started_at")),
                "seen_at": _number(fields.get("seen_at")),
                "in_flight": int(_number(fields.get("in_flight")) or 0),
                "jobs": int(_number(fields.get("jobs")) or 0),
                # written by workers since the Redis-fault work; absent from older ones
                "redis": fields.get("redis") or "-",
                "redis_outages": int(_number(fields.get("redis_outages")) or 0),
                "redis_last_outage_s": (_number(fields.get("redis_last_outage_ms")) or 0) / 1000,
                "redis_last_error": fields.get("redis_last_error") or "",
                "requeued": int(_number(fields.get("requeued")) or 0),
            }
        )
    return workers


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


@app.command()
def workers(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON list.")] = False,
) -> None:
    """Workers seen in the last 60 seconds, with their view of Redis (ok, or down while
    it is unreachable; outages ridden out) and requests their reconciler re-queued."""
    state = get_state(ctx)
    now = time.time()
    found = run_async(state, live_workers(state, now))
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no live workers", markup=False)
        return
    table = Table()
    # Ids are copied into other commands: never wrap or shorten them.
    table.add_column("id", no_wrap=True, min_width=max(len(w["id"]) for w in found))
    for column in ("up", "last seen", "in flight", "jobs", "redis", "outages", "requeued"):
        table.add_column(column, justify="right")
    for worker in found:
        started, seen = worker["started_at"], worker["seen_at"]
        outages = str(worker["redis_outages"])
        if worker["redis_outages"]:
            outages += f" (last {worker['redis_last_outage_s']:.1f}s)"
        table.add_row(
            worker["id"],
            duration(now - started) if started else "-",
            f"{duration(now - seen)} ago" if seen else "-",
            str(worker["in_flight"]),
            str(worker["jobs"]),
            worker["redis"],
            outages,
            str(worker["requeued"]),
        )
    console.print(table)


@app.command(
    "mock-upstream",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def mock_upstream(ctx: typer.Context) -> None:
    """Run the local stand-in Responses API (python -m respq.mockapi; --help lists its options)."""
    with expected_errors(get_state(ctx)):
        require("mock")
    # Imported here: mockapi is a separate deployable and only this command needs it.
    from respq.mockapi import main as mock_main

    mock_main(list(ctx.args))

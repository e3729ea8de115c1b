"""``respq doctor``: the audit the workers' reconciler runs, for one batch, on demand."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from respq.contract.audit import Auditor
from respq.contract.exit_codes import ExitCode
from respq.contract.status import TERMINAL_STATUSES
from respq.producer.cli.app import app, console, get_state, run_async
from respq.producer.cli.submit import print_json

MEANING = {
    "recorded": "has its output line",
    "leased": "being sent by a live worker",
    "overdue": "leased, but in flight longer than its worker's deadlines allow: stuck?",
    "queued": "in a queued job",
    "parked": "in a job parked while the batch is paused",
    "waiting": "waits for the request it depends on",
    "unowned": "only in the first job that listed it (normal while queued)",
    "stranded": "held by nothing: never finishes unless re-queued",
}


@app.command()
def doctor(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Re-queue stranded requests; on an ended batch, rewrite counters that "
            "disagree with the stored results.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON report.")] = False,
) -> None:
    """Audit a batch: is every request recorded, leased, or in a queued job, and do its
    counters and usage equal the sums over its results? Requests leased for longer than
    their worker's deadlines allow are shown as overdue. Exit 1 when something is wrong
    (after --repair: when something could not be repaired)."""
    state = get_state(ctx)

    async def go() -> dict[str, Any]:
        async with state.client() as client:
            batch = await client.get(batch_id)
            info = await batch.status()
            auditor = Auditor(
                client.redis,
                queue_name=client.settings.queue_name,
                chunk_size=client.settings.chunk_size,
                result_ttl=client.settings.result_ttl,
            )
            async with client.errors():
                requests = await auditor.requests(batch_id, repair=1 if repair else 0)
                counters = await auditor.counters(batch_id)
                ended = info.status in TERMINAL_STATUSES
                fixed = 0
                # A running batch's counters move while they are summed: repair only
                # those of an ended batch.
                if repair and ended and counters.drift:
                    fixed = await auditor.repair_counters(batch_id, counters)
        return {
            "batch_id": batch_id,
            "status": info.status.value,
            "total": info.request_counts.total,
            "requests": requests.as_dict(),
            "counters": {
                name: {"stored": stored, "derived": derived}
                for name, (stored, derived) in counters.drift.items()
            },
            "counters_checked": ended,
            "counters_repaired": fixed,
        }

    report = run_async(state, go())
    requests = report["requests"]
    stranded_left = requests["stranded"] - requests["requeued"]
    drift_left = len(report["counters"]) - report["counters_repaired"]
    if as_json:
        print_json(report)
    else:
        _print(report)
    overdue = requests["overdue"] > 0
    if stranded_left > 0 or overdue or (report["counters_checked"] and drift_left > 0):
        raise typer.Exit(ExitCode.FAILED_REQUESTS)


def _print(report: dict[str, Any]) -> None:
    requests = report["requests"]
    table = Table(title=f"{report['batch_id']}: {report['status']}, {report['total']} requests")
    table.add_column("requests")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    for name, meaning in MEANING.items():
        table.add_row(name, str(requests[name]), meaning)
    console.print(table)
    if requests["stranded_ids"]:
        shown = ", ".join(requests["stranded_ids"])
        console.print(f"stranded: {shown}", markup=False)
    if requests["requeued"]:
        console.print(f"re-queued {requests['requeued']} request(s)", markup=False)
    if requests["overdue"]:
        console.print(
            f"overdue: {requests['overdue']} request(s) held by a worker that still renews "
            "its lease but has had them in flight longer than RESPQ_REQUEST_TIMEOUT, its "
            "attempts and waits allow; see `respq workers` and that worker's log",
            markup=False,
        )
    drift = report["counters"]
    if not report["counters_checked"]:
        console.print("counters: checked once the batch has ended", markup=False)
    elif not drift:
        console.print("counters: equal to the sums over the stored results", markup=False)
    else:
        for name, values in drift.items():
            console.print(
                f"counter {name}: stored {values['stored']}, results say {values['derived']}",
                markup=False,
            )
        if report["counters_repaired"]:
            console.print(f"repaired {report['counters_repaired']} counter(s)", markup=False)

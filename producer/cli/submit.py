"""``respq submit``: validate a JSONL file, then enqueue it as one batch."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from respq.contract.errors import CliError
from respq.contract.exit_codes import ExitCode
from respq.contract.webhook_targets import check_webhook
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.cli.app import (
    app,
    console,
    err_console,
    get_state,
    run_async,
)
from respq.producer.cli.file_argument import display_name, input_file
from respq.producer.cli.progress import follow
from respq.producer.cli.render import status_view
from respq.producer.cli.results import (
    ErrorsOption,
    OutputOption,
    Written,
    check_distinct_outputs,
    note_skipped,
    write_results,
)
from respq.producer.client import BatchClient
from respq.producer.estimate import Estimator
from respq.producer.jsonl_file import CheckedFile, check_file, prepared_requests
from respq.producer.models_check import check_models as check_batch_models
from respq.producer.scheduling import Scheduling, parse_priority
from respq.producer.settings import ClientSettings, parse_window
from respq.producer.submission import Submission

# Batch ids become part of Redis keys (inside a {hash tag}), so keep them plain.
BATCH_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def parse_metadata(items: list[str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--metadata wants key=value, got {item!r}")
        metadata[key.strip()] = value
    return metadata


def check_options(batch_id: str | None, completion_window: str | None) -> None:
    """Reject bad options before reading the file (and long before touching Redis)."""
    if batch_id is not None and not BATCH_ID_RE.fullmatch(batch_id):
        raise CliError(
            f"--batch-id {batch_id!r}: use 1-128 letters, digits and _ . : - "
            "(starting with a letter or digit)"
        )
    if completion_window is not None:
        try:
            parse_window(completion_window)
        except ValueError as exc:
            raise CliError(f"--completion-window: {exc}") from None


def validate(
    path: Path, name: str | None = None, estimator: Estimator | None = None
) -> CheckedFile:
    """The first pass (validate, spool; and estimate, given an ``estimator``); raises
    InvalidInput (exit 2) naming the file and every bad line."""
    settings = ClientSettings()
    return check_file(
        path, max_request_bytes=settings.max_request_bytes, name=name, estimator=estimator
    )


async def enqueue(client: BatchClient, checked: CheckedFile, submission: Submission) -> Batch:
    """The second pass: stream the checked file's spooled requests into one batch (a new
    batch whose enqueue stops midway is removed whole: ``BatchClient.submit_prepared``)."""
    submission = replace(submission, endpoint=checked.endpoint)
    return await client.submit_prepared(prepared_requests(checked), submission)


def exit_code_for(info: BatchInfo) -> ExitCode:
    """0 only when every request succeeded."""
    if info.request_counts.failed or info.status != "completed":
        return ExitCode.FAILED_REQUESTS
    return ExitCode.OK


def print_json(data: Any, *, to_stderr: bool = False) -> None:
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    (err_console if to_stderr else console).print(text, markup=False, highlight=False)


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSONL batch file, or - for standard input.")],
    batch_id: Annotated[
        str | None, typer.Option("--batch-id", help="Batch id (default: a new random one).")
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", "-m", help="key=value, stored with the batch (repeatable)."),
    ] = None,
    completion_window: Annotated[
        str | None,
        typer.Option(
            "--completion-window",
            help="24h (OpenAI's), or longer in whole hours or days up to 30d (48h, 7d); "
            "requests not sent by then expire.",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the batch, then write its results.")
    ] = False,
    output: OutputOption = None,  # with --wait
    errors: ErrorsOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the batch object as JSON instead of the id.")
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            min=0.000001,
            help="Budget in USD: workers pause the batch before spending more (needs "
            "RESPQ_PRICES on the workers; respq resume continues it).",
        ),
    ] = None,
    check_models: Annotated[
        bool,
        typer.Option(
            "--check-models",
            help="First GET {RESPQ_BASE_URL}/models; refuse the batch if a model is unknown.",
        ),
    ] = False,
    priority: Annotated[
        str,
        typer.Option(
            "--priority",
            help="Share of the workers against other batches: N from -10 to 10 is weight "
            "2**N (1 doubles the default share, -1 halves it); 'urgent' goes first.",
        ),
    ] = "0",
    max_in_flight: Annotated[
        int | None,
        typer.Option(
            "--max-in-flight",
            min=1,
            help="At most this many of the batch's requests in flight, across all workers.",
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="URL that gets the batch's signed batch.* event when it ends (instead of "
            "RESPQ_WEBHOOK_URL); workers sign with RESPQ_WEBHOOK_SECRET.",
        ),
    ] = None,
) -> None:
    """Validate every line (nothing is enqueued if one is bad), then enqueue the batch.

    Prints the batch id. Lines are OpenAI batch lines {"custom_id","method","url","body"}
    or bare request bodies (custom_id line-<n>); blank lines are skipped.
    """
    state = get_state(ctx)
    # With --wait and no -o the results own stdout, so everything else goes to stderr.
    results_on_stdout = wait and output is None

    async def go() -> tuple[BatchInfo, Written | None]:
        check_options(batch_id, completion_window)
        if wait:
            check_distinct_outputs(output, errors)
        # Every option is checked before the file is read or Redis touched.
        submission = Submission(
            batch_id=batch_id,
            metadata=parse_metadata(metadata),
            completion_window=completion_window,
            max_cost=max_cost,
            scheduling=Scheduling.of(parse_priority(priority), max_in_flight),
            webhook=await _own_receiver(webhook),
        )
        with input_file(file) as path, validate(path, display_name(file)) as checked:
            if check_models:
                await check_batch_models(checked.models)
            async with state.client() as client:
                batch = await enqueue(client, checked, submission)
                info = await batch.status()
                _announce(info, as_json=as_json, to_stderr=results_on_stdout)
                if not wait:
                    return info, None
                info = await follow(batch, err_console)
                written = await write_results(batch, output, errors)
                return info, written

    info, written = run_async(state, go())
    if written is None:
        return
    err_console.print(status_view(info))
    note_skipped(written, info.id)
    raise typer.Exit(int(exit_code_for(info)))


async def _own_receiver(webhook: str | None) -> str | None:
    """--webhook, checked (WebhookTargetError for a malformed or non-public one)."""
    if webhook is None:
        return None
    allow_private = ClientSettings().webhook_allow_private
    return await check_webhook(webhook, allow_private=allow_private)


def _announce(info: BatchInfo, *, as_json: bool, to_stderr: bool) -> None:
    if as_json:
        print_json(info.openai_shape(), to_stderr=to_stderr)
        return
    if to_stderr:
        err_console.print(info.id, markup=False)
    else:
        console.print(info.id, markup=False)
    # The id alone goes to stdout (scripts read it); what was enqueued, to stderr.
    err_console.print(f"{info.request_counts.total} request(s) for {info.endpoint}", markup=False)

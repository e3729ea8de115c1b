"""``respq results``: output lines in input order, successes and failures apart."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO, cast

import orjson
import typer

from respq.contract.errors import CliError
from respq.contract.lines import is_success
from respq.producer.batch import Batch
from respq.producer.cli.app import app, err_console, get_state, run_async


@dataclass
class Written:
    """How many lines went where."""

    succeeded: int = 0
    failed: int = 0
    failed_skipped: int = 0


def _open(path: Path | None, stack: ExitStack) -> BinaryIO:
    if path is None:
        # sys.stdout at call time: typer's test runner swaps it per invocation.
        sys.stdout.flush()
        return cast(BinaryIO, sys.stdout.buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    return stack.enter_context(path.open("wb"))


def check_distinct_outputs(output: Path | None, errors: Path | None) -> None:
    """``-o`` and ``--errors`` must name two files: writing both into one would truncate
    one stream with the other. Links and other spellings of one path count as the same."""
    if output is None or errors is None:
        return
    try:
        same = os.path.samefile(output, errors)
    except OSError:  # one of them does not exist yet
        same = output.resolve() == errors.resolve()
    if same:
        raise CliError(f"-o/--output and --errors name the same file ({output}); give two files")


def is_failure(raw: bytes) -> bool:
    return not is_success(orjson.loads(raw))


async def write_results(
    batch: Batch,
    out: Path | None,
    errors: Path | None,
    *,
    everything: bool = False,
) -> Written:
    """Stream the batch's finished lines to files (``None`` = stdout for ``out``).

    Successes go to ``out``; failures to ``errors``, or nowhere (only counted) when it is
    ``None``; with ``everything`` every line goes to ``out``.
    """
    written = Written()
    with ExitStack() as stack:
        out_handle = _open(out, stack)
        err_handle = _open(errors, stack) if errors and not everything else None
        async for raw in batch.result_lines():
            line = raw.rstrip(b"\n") + b"\n"
            if everything:
                out_handle.write(line)
                if is_failure(raw):
                    written.failed += 1
                else:
                    written.succeeded += 1
            elif not is_failure(raw):
                out_handle.write(line)
                written.succeeded += 1
            elif err_handle is not None:
                err_handle.write(line)
                written.failed += 1
            else:
                written.failed_skipped += 1
        out_handle.flush()
    return written


def note_skipped(written: Written, batch_id: str) -> None:
    if written.failed_skipped:
        err_console.print(
            f"note: {written.failed_skipped} request(s) failed and were not written; get them "
            f"with `respq results {batch_id} --errors errors.jsonl` (or --all)",
            markup=False,
        )


# The -o / --errors pair of every command that writes results (results, submit --wait).
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write successes here (default stdout).", dir_okay=False),
]
ErrorsOption = Annotated[
    Path | None,
    typer.Option("--errors", help="Write failures here (default: not written).", dir_okay=False),
]


@app.command()
def results(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    output: OutputOption = None,
    errors: ErrorsOption = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Write successes and failures to one place.")
    ] = False,
) -> None:
    """Output lines in input order (what has finished so far, if the batch still runs)."""
    state = get_state(ctx)

    async def go() -> tuple[Written, str]:
        check_distinct_outputs(output, errors)
        async with state.client() as client:
            batch = await client.get(batch_id)
            endpoint = (await batch.status()).endpoint
            return await write_results(batch, output, errors, everything=everything), endpoint

    written, endpoint = run_async(state, go())
    err_console.print(
        f"{batch_id} ({endpoint}): {written.succeeded} succeeded, "
        f"{written.failed + written.failed_skipped} failed",
        markup=False,
    )
    note_skipped(written, batch_id)

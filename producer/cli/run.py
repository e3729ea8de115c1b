"""``respq run``: the whole job on one machine — Redis, workers, optionally the mock
upstream, submit, progress, results — and everything stopped cleanly afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from respq.contract.errors import CliError
from respq.contract.exit_codes import ExitCode
from respq.contract.extras import require
from respq.contract.redis_conn import redact_url
from respq.producer.batch_info import BatchInfo
from respq.producer.cli.app import (
    State,
    app,
    err_console,
    expected_errors,
    fail,
    get_state,
    run_async,
)
from respq.producer.cli.file_argument import display_name, input_file
from respq.producer.cli.local_redis import FoundRedis, find_redis
from respq.producer.cli.processes import Children, StartError, free_port, http_probe, wait_ready
from respq.producer.cli.progress import StopFollowing, follow
from respq.producer.cli.render import status_view
from respq.producer.cli.results import Written, check_distinct_outputs, write_results
from respq.producer.cli.submit import (
    check_options,
    enqueue,
    exit_code_for,
    parse_metadata,
    validate,
)
from respq.producer.client import BatchClient
from respq.producer.submission import Submission

T = TypeVar("T")

# Workers started by `run` get a short grace for in-flight requests when stopped, unless
# the user chose one: at the end of a run nothing is in flight, and on Ctrl-C the user
# is waiting.
RUN_SHUTDOWN_GRACE = "5"


@dataclass
class RunOutcome:
    info: BatchInfo | None
    written: Written | None
    interrupted: bool
    problem: str | None = None


@contextmanager
def _signals(event: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``event`` instead of killing the run, so it can write partial
    results and stop its children in order."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, event.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _unless_interrupted(work: Awaitable[T], interrupted: asyncio.Event) -> T | None:
    """``work``'s result, or None when ``interrupted`` is set first (``work`` is cancelled)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(interrupted.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


def _worker_env(redis_url: str, base_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["RESPQ_REDIS_URL"] = redis_url
    env.setdefault("RESPQ_SHUTDOWN_GRACE", RUN_SHUTDOWN_GRACE)
    if base_url is not None:
        env["RESPQ_BASE_URL"] = base_url
        mock_key = os.environ.get("MOCKAPI_API_KEY")
        if mock_key:  # the mock started with a key: the workers must send that one
            env["RESPQ_API_KEY"] = mock_key
    return env


def _check_children(children: Children, n_workers: int) -> str | None:
    """A reason to stop following: every worker (or the mock upstream) has exited."""
    mock = children.named("mockapi")
    if mock and not mock[0].alive:
        return mock[0].describe_exit()
    dead = children.dead("worker")
    if len(dead) == n_workers:
        return f"all {n_workers} workers exited; " + dead[0].describe_exit()
    return None


@app.command()
def run(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSONL batch file, or - for standard input.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Write successes here.", dir_okay=False)
    ],
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help="Write failures here [default: <output stem>.errors.jsonl]",
            dir_okay=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=64, help="Worker processes.")
    ] = 2,
    mock: Annotated[
        bool,
        typer.Option(
            "--mock",
            help="Send requests to a local mock upstream (python -m "
            "respq.mockapi; tune it with MOCKAPI_* variables) instead of RESPQ_BASE_URL.",
        ),
    ] = False,
    batch_id: Annotated[str | None, typer.Option("--batch-id", help="Batch id.")] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="key=value (repeatable).")
    ] = None,
) -> None:
    """Run a whole batch on this machine: find or start Redis, start workers (and the mock
    upstream with --mock), submit, show progress, write results, stop everything.

    Redis: --redis-url / RESPQ_REDIS_URL when set; else the server on localhost:6379 if
    one answers; else a private, non-persistent redis-server from PATH (set
    RESPQ_RUN_PRIVATE_REDIS=1 to always use a private one). Without --mock, workers need
    RESPQ_API_KEY (and RESPQ_BASE_URL for a provider other than the default).
    """
    state = get_state(ctx)
    with expected_errors(state):
        require("worker", *(("mock",) if mock else ()))
    errors_path = errors or output.with_name(output.stem + ".errors.jsonl")
    if not mock and not os.environ.get("RESPQ_API_KEY"):
        raise fail(
            "RESPQ_API_KEY is not set: the workers need the upstream API key "
            "(export RESPQ_API_KEY=...), or use --mock to try it against a local mock API"
        )
    outcome = run_async(
        state, _run(state, file, output, errors_path, workers, mock, batch_id, metadata)
    )
    if outcome.info is not None and not outcome.interrupted:
        err_console.print(status_view(outcome.info))
    if outcome.written is not None:
        err_console.print(
            f"{outcome.written.succeeded} succeeded → {output}; "
            f"{outcome.written.failed} failed → {errors_path}",
            markup=False,
        )
    if outcome.problem:
        err_console.print(f"[red]error:[/red] {outcome.problem}", markup=True)
        raise typer.Exit(int(ExitCode.FAILED_REQUESTS))
    if outcome.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    assert outcome.info is not None
    raise typer.Exit(int(exit_code_for(outcome.info)))


async def _run(
    state: State,
    file: str,
    output: Path,
    errors: Path,
    n_workers: int,
    mock: bool,
    batch_id: str | None,
    metadata: list[str] | None,
) -> RunOutcome:
    check_options(batch_id, None)
    check_distinct_outputs(output, errors)
    meta = parse_metadata(metadata)
    with input_file(file) as path, validate(path, display_name(file)) as checked:
        err_console.print(
            f"{checked.requests} valid {checked.endpoint.url} requests in {file}", markup=False
        )
        interrupted = asyncio.Event()
        async with AsyncExitStack() as stack:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="respq-run-")))
            children = Children(log_dir, inherit_output=state.verbose)
            stack.push_async_callback(children.stop_all)
            stack.enter_context(_signals(interrupted))
            try:
                redis = await find_redis(state, children)
                base_url = await _start_mock(children) if mock else None
                env = _worker_env(redis.url, base_url)
                for n in range(1, n_workers + 1):
                    await children.start(
                        f"worker-{n}",
                        [sys.executable, "-m", "respq.worker"],
                        env,
                        log_name="workers.log",
                    )
            except StartError as exc:
                raise CliError(str(exc), ExitCode.USAGE) from None
            err_console.print(
                f"started {n_workers} worker(s)"
                + (f" against the mock upstream at {base_url}" if base_url else ""),
                markup=False,
            )
            client = BatchClient.from_url(redis.url)
            stack.push_async_callback(client.close)
            batch = await _unless_interrupted(
                enqueue(client, checked, Submission(batch_id=batch_id, metadata=meta)),
                interrupted,
            )
            if batch is None:
                err_console.print("interrupted while submitting; nothing was run", markup=False)
                return RunOutcome(None, None, interrupted=True)
            err_console.print(f"batch {batch.id} submitted", markup=False)
            problem = None
            try:
                info = await follow(
                    batch,
                    err_console,
                    stop=interrupted,
                    check=lambda: _check_children(children, n_workers),
                )
            except StopFollowing as exc:
                problem = str(exc)
                info = await batch.status()
            # Stop the workers first so the results written are the final ones for
            # this run; Redis (if private) stays up until they are written.
            await children.stop_all([c.name for c in children.named("worker")])
            info = await batch.status()
            written = await write_results(batch, output, errors)
            if interrupted.is_set() and not info.is_terminal:
                _say_resume(info, redis)
            return RunOutcome(
                info,
                written,
                interrupted=interrupted.is_set() and not info.is_terminal,
                problem=problem,
            )


async def _start_mock(children: Children) -> str:
    port = free_port()
    child = await children.start(
        "mockapi",
        [sys.executable, "-m", "respq.mockapi", "--port", str(port)],
        dict(os.environ),
        log_name="mockapi.log",
    )
    root = f"http://127.0.0.1:{port}"
    # /health answers without the key MOCKAPI_API_KEY may have given the mock.
    await wait_ready(child, http_probe(root + "/health"), what=f"GET {root}/health")
    return root + "/v1"


def _say_resume(info: BatchInfo, redis: FoundRedis) -> None:
    left = info.request_counts.total - info.done
    text = (
        f"interrupted: {left} of {info.request_counts.total} requests were not done "
        f"(partial results written). "
    )
    if redis.private:
        text += (
            "The private Redis of this run is not persistent, so the batch cannot be resumed; "
            "run again, or use a persistent Redis (--redis-url) to be able to resume."
        )
    else:
        text += (
            f"Batch {info.id} stays in Redis at {redact_url(redis.url)}: start workers "
            f"(python -m respq.worker) and resume with `respq watch {info.id}` then "
            f"`respq results {info.id}`."
        )
    err_console.print(text, markup=False)

"""The typer app, its global options, exit codes and the error-to-exit-code edge."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, TypeVar

import typer
from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from respq.contract.errors import (
    CliError,
    InvalidFile,
    InvalidInput,
    RedisFailure,
    RedisNotResponding,
    RedisOutOfMemory,
    RedisReadOnly,
    RedisRefused,
    RespqError,
    SpoolFull,
)
from respq.contract.exit_codes import ExitCode
from respq.contract.redis_conn import redact_url, url_secrets
from respq.producer.client import BatchClient
from respq.producer.redis_failures import redis_failure

T = TypeVar("T")

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
MAX_PROBLEMS_SHOWN = 20

log = logging.getLogger("respq.cli")


# The library's errors that have an exit code of their own; any other RespqError is a 2.
# The most specific class first: RedisNotResponding is a RedisUnavailable, the OOM and
# READONLY refusals are RedisRefused.
EXIT_CODES: tuple[tuple[type[RespqError], ExitCode], ...] = (
    (RedisNotResponding, ExitCode.REDIS_TIMEOUT),
    (RedisOutOfMemory, ExitCode.REDIS_OUT_OF_MEMORY),
    (RedisReadOnly, ExitCode.REDIS_READ_ONLY),
    (RedisRefused, ExitCode.REDIS_REFUSED),
    (RedisFailure, ExitCode.REDIS),
    (SpoolFull, ExitCode.NO_SPACE),
)


HELP = """\
respq: run batches of OpenAI-Responses-compatible requests through Redis and arq workers.

\b
Exit codes:
  0  success (every request succeeded)
  1  finished, but some requests failed (run, submit --wait, watch)
  2  bad usage or invalid input (nothing enqueued), unknown batch, missing file
  3  cannot reach Redis (RESPQ_REDIS_URL)
  4  Redis did not answer within RESPQ_REDIS_TIMEOUT (frozen, cut off)
  5  Redis is out of memory (its maxmemory)
  6  Redis is a read-only replica
  7  Redis refused a command for another reason (its reply is shown)
  8  no space left under TMPDIR for the spool of a submit
"""


@dataclass
class State:
    """The global options, shared by every command through typer's context."""

    redis_url_option: str | None = None
    verbose: bool = False

    @property
    def redis_url(self) -> str:
        return self.redis_url_option or DEFAULT_REDIS_URL

    def client(self, url: str | None = None) -> BatchClient:
        return BatchClient.from_url(url or self.redis_url)


# Two consoles: data (ids, JSON, tables) goes to stdout, everything else to stderr, so
# ``respq submit f.jsonl > id.txt`` and ``respq results ID > out.jsonl`` stay clean.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def get_state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    if not isinstance(state, State):  # a command invoked without the root callback
        state = State()
        ctx.find_root().obj = state
    return state


def scrub(text: str, url: str) -> str:
    """``text`` with every credential of ``url`` masked (userinfo and ``?password=``-style
    parameters): a Redis password is never printed, whatever form the URL takes."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def fail(message: str, code: ExitCode = ExitCode.USAGE, *, url: str = "") -> typer.Exit:
    # The message is text, not markup: "respq[server]" or a prompt's brackets print as they are.
    err_console.print(Text("error: ", style="red") + Text(scrub(message, url)), highlight=False)
    return typer.Exit(int(code))


def print_problems(exc: InvalidInput) -> None:
    """Every bad line with line number, custom_id and field (the first 20)."""
    source = f" in {escape(exc.name)}" if isinstance(exc, InvalidFile) else ""
    err_console.print(
        f"[red]error:[/red] {exc.total_bad} invalid line(s){source}, nothing was enqueued:",
        markup=True,
    )
    for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
        err_console.print(f"  {problem}", markup=False)
    more = exc.total_bad - min(len(exc.problems), MAX_PROBLEMS_SHOWN)
    if more > 0:
        err_console.print(f"  … and {more} more", markup=False)


def exit_code_of(exc: RespqError) -> ExitCode:
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), ExitCode.USAGE)


@contextmanager
def expected_errors(state: State) -> Iterator[None]:
    """Map expected failures to exit codes with one clear message and no traceback."""
    url = state.redis_url
    try:
        yield
    except RedisError as exc:  # one that came around the client's translation
        failure = redis_failure(exc, redact_url(url), None)
        if failure is None:
            raise
        raise fail(str(failure), exit_code_of(failure), url=url) from None
    except InvalidInput as exc:
        print_problems(exc)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    except CliError as exc:
        raise fail(str(exc), exc.code, url=url) from None
    except RespqError as exc:  # the library's: EmptyFile, FileChanged, SpoolFull, Redis's, ...
        raise fail(str(exc), exit_code_of(exc), url=url) from None
    except FileNotFoundError as exc:
        raise fail(f"no such file: {exc.filename}", ExitCode.USAGE, url=url) from None
    except IsADirectoryError as exc:
        raise fail(f"is a directory: {exc.filename}", ExitCode.USAGE, url=url) from None
    except PermissionError as exc:
        raise fail(f"permission denied: {exc.filename}", ExitCode.USAGE, url=url) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def run_async(state: State, coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine with the expected errors mapped to exit codes."""
    with expected_errors(state):
        return asyncio.run(coro)


def _package_version() -> str:
    try:
        return version("respq")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"respq {_package_version()}")
        raise typer.Exit()


COMMAND_ORDER = (
    "estimate",
    "submit",
    "status",
    "watch",
    "results",
    "cancel",
    "retry",
    "resume",
    "list",
    "top",
    "workers",
    "run",
    "mock-upstream",
)


class _Ordered(TyperGroup):
    """Commands in --help in the order of a batch's life, not of module imports."""

    def list_commands(self, ctx: Any) -> list[str]:  # typer vendors click.Context
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


app = typer.Typer(
    name="respq",
    cls=_Ordered,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            envvar="RESPQ_REDIS_URL",
            help=f"Redis URL [env RESPQ_REDIS_URL; default {DEFAULT_REDIS_URL}].",
            show_default=False,
            show_envvar=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail on stderr.")
    ] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    ctx.obj = State(redis_url_option=redis_url or None, verbose=verbose)
    # Reset on every invocation: one process may run several commands (tests, embedding),
    # and a handler left on an old stderr would write to a closed stream.
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.debug("redis url %s", redact_url(ctx.obj.redis_url))

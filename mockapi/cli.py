"""``python -m respq.mockapi``: options as flags or ``MOCKAPI_*`` environment variables
(flags win)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import uvicorn

from .app import create_app
from .config import MockConfig
from .server import reuse_port_socket, uvicorn_config

log = logging.getLogger("mockapi")

# (flag, MockConfig field, parser)
OPTIONS: list[tuple[str, str, Callable[[str], Any]]] = [
    ("--host", "host", str),
    ("--port", "port", int),
    ("--latency", "latency", float),
    ("--jitter", "jitter", float),
    ("--tokens-per-second", "tokens_per_second", float),
    ("--rpm", "rpm", int),
    ("--tpm", "tpm", int),
    ("--fail-rate", "fail_rate", float),
    ("--fail-mix", "fail_mix", str),
    ("--hang-seconds", "hang_seconds", float),
    ("--api-key", "api_key", str),
    ("--models", "models", str),
    ("--seed", "seed", int),
    ("--style", "style", str),
]


def _parse_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m respq.mockapi",
        description="A local stand-in for an OpenAI-Responses-compatible API. "
        "Every flag may also be set as MOCKAPI_<NAME> (e.g. MOCKAPI_LATENCY=0.2); flags win.",
    )
    for flag, field, parse in OPTIONS:
        parser.add_argument(flag, dest=field, type=parse, default=None)
    parser.add_argument("--store", dest="store", type=_parse_bool, default=None)
    parser.add_argument("--log-level", dest="log_level", default=None)
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT, so several mockapi processes share one port "
        "(the kernel spreads connections over them)",
    )
    return parser


# uvicorn's log levels.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_KINDS: dict[Callable[[str], Any], str] = {int: "an integer", float: "a number"}


def _stop(message: str) -> NoReturn:
    """A bad ``MOCKAPI_*`` value: one line on stderr, exit status 2, no usage text (the
    command line was fine)."""
    print(f"python -m respq.mockapi: {message}", file=sys.stderr)
    raise SystemExit(2)


def _bad(parser: argparse.ArgumentParser, source: tuple[str, str], problem: str) -> NoReturn:
    """Report a bad value from its source: a variable stops with one line, a flag with
    argparse's usage message."""
    name, raw = source
    if name.startswith("MOCKAPI_"):
        _stop(f"bad setting {name}={raw!r}: {problem}")
    parser.error(f"argument {name}: {problem} (got {raw!r})")


def config_from(argv: Sequence[str] | None, env: dict[str, str]) -> tuple[MockConfig, str]:
    """Build the config from flags, falling back to ``MOCKAPI_*`` variables, then defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    sources: dict[str, tuple[str, str]] = {}  # field -> (flag or variable, text as given)
    flags = {field: flag for flag, field, _ in OPTIONS} | {"store": "--store"}
    fields = [(field, parse) for _, field, parse in OPTIONS] + [("store", _parse_bool)]
    for field, parse in fields:
        value = getattr(args, field)
        sources[field] = (flags[field], str(value))
        if value is None:
            variable = "MOCKAPI_" + field.upper()
            raw = env.get(variable)
            if raw is not None and raw != "":
                sources[field] = (variable, raw)
                try:
                    value = parse(raw)
                except ValueError:
                    _stop(f"bad setting {variable}={raw!r}: use {_KINDS.get(parse, 'a value')}")
        if value is not None:
            values[field] = value
    log_level = _log_level(parser, args.log_level, env)
    try:
        return MockConfig(**values), log_level
    except ValueError as exc:
        # Each field is checked on its own, so the one at fault can be named.
        for field, value in values.items():
            try:
                MockConfig(**{field: value})
            except ValueError as problem:
                _bad(parser, sources[field], str(problem))
        parser.error(str(exc))


def _log_level(parser: argparse.ArgumentParser, flag: str | None, env: dict[str, str]) -> str:
    source = ("--log-level", flag) if flag else ("MOCKAPI_LOG_LEVEL", env.get("MOCKAPI_LOG_LEVEL"))
    level = (source[1] or "warning").strip().lower()
    if level not in LOG_LEVELS:
        _bad(parser, (source[0], source[1] or ""), "use one of " + ", ".join(LOG_LEVELS))
    return level


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m respq.mockapi``."""
    config, log_level = config_from(argv, dict(os.environ))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(config)
    uv_config = uvicorn_config(app, config.host, config.port, log_level)
    log.info(
        "mockapi listening on http://%s:%d/v1 (models=%s latency=%s rpm=%s tpm=%s "
        "fail_rate=%s fail_mix=%s auth=%s http=%s)",
        config.host,
        config.port,
        ",".join(config.models),
        config.latency,
        config.rpm,
        config.tpm,
        config.fail_rate,
        config.fail_mix,
        "on" if config.api_key else "off",
        uv_config.http,
    )
    if build_parser().parse_args(argv).reuse_port:
        uvicorn.Server(uv_config).run(sockets=[reuse_port_socket(config.host, config.port)])
    else:
        uvicorn.Server(uv_config).run()

"""Start ``respq serve``: check the auth setup, print the links, run uvicorn."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import uvicorn

from respq.contract.errors import RespqError
from respq.producer.settings import ClientSettings
from respq.server.app import create_app
from respq.server.auth import RedactTokens
from respq.server.settings import ServerSettings

log = logging.getLogger("respq.server")

NO_AUTH_WARNING = (
    "WARNING: respq serve is running WITHOUT authentication (--no-auth): anyone who can "
    "reach this port can read every batch and spend your upstream quota."
)


class NoKeysConfigured(RespqError):
    """No client keys are set and ``--no-auth`` was not given."""


def links(host: str, port: int, key: str | None) -> list[str]:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    root = f"http://{shown}:{port}"
    dashboard = f"{root}/?token={key}" if key else f"{root}/"
    return [f"OpenAI base_url: {root}/v1", f"dashboard:       {dashboard}"]


def prepare(
    settings: ServerSettings, *, no_auth: bool, host: str, port: int, out: TextIO
) -> ServerSettings:
    """The settings to run with; NoKeysConfigured when there are no keys and no --no-auth."""
    keys = settings.api_keys()
    if no_auth:
        print(NO_AUTH_WARNING, file=sys.stderr, flush=True)
        settings = settings.model_copy(
            update={"server_api_keys": type(settings.server_api_keys)("")}
        )
    elif not keys:
        raise NoKeysConfigured(
            "no client keys: set RESPQ_SERVER_API_KEYS (comma-separated), or pass --no-auth "
            "to run an open server on a trusted network"
        )
    # Like Jupyter: the dashboard link with the first key, printed once to the console that
    # started the server (never to a log).
    for line in links(host, port, None if no_auth else keys[0]):
        print(line, file=out, flush=True)
    return settings


def serve_forever(
    *,
    host: str,
    port: int,
    no_auth: bool,
    redis_url: str | None = None,
    log_level: str = "info",
) -> None:
    settings = prepare(ServerSettings(), no_auth=no_auth, host=host, port=port, out=sys.stdout)
    client_settings = ClientSettings()
    if redis_url:
        client_settings = client_settings.model_copy(update={"redis_url": redis_url})
    config = uvicorn.Config(
        create_app(settings, client_settings),
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    # After Config: it (re)configures uvicorn's loggers.
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    uvicorn.Server(config).run()

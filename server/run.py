"""Start ``respq serve``: check the auth setup, print the links, run uvicorn."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import uvicorn

from respq.contract.errors import BadLogLevel, FilesDirUnusable, NoKeysConfigured
from respq.producer.settings import ClientSettings
from respq.server import access_log
from respq.server.app import create_app
from respq.server.auth import KeyRing
from respq.server.settings import ServerSettings

log = logging.getLogger("respq.server")

NO_AUTH_WARNING = (
    "WARNING: respq serve is running WITHOUT authentication (--no-auth): anyone who can "
    "reach this port can read every batch and spend your upstream quota."
)
# uvicorn's trace level logs every request's scope; refused rather than trusted to mask.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def check_files_dir(path: Path) -> None:
    """Make sure uploads can be stored before the server opens (a failure inside the
    app's start-up would be a uvicorn traceback); the message names the setting and the
    system's reason, not the path."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".respq-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FilesDirUnusable(
            f"RESPQ_FILES_DIR cannot be used to store uploads ({reason}): set it to a "
            "writable directory"
        ) from None


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
    """The settings to run with; NoKeysConfigured when there are no keys and no --no-auth,
    BadKeySetting when an entry cannot be read."""
    ring = KeyRing(settings.api_keys(), settings.admin_keys())
    if no_auth:
        print(NO_AUTH_WARNING, file=sys.stderr, flush=True)
        empty = type(settings.server_api_keys)("")
        settings = settings.model_copy(
            update={"server_api_keys": empty, "server_admin_keys": empty}
        )
    elif not ring.enabled:
        raise NoKeysConfigured(
            "no client keys: set RESPQ_SERVER_API_KEYS (comma-separated), or pass --no-auth "
            "to run an open server on a trusted network"
        )
    check_files_dir(settings.files_dir)
    # Like Jupyter: the dashboard link with a key, but only to a person's terminal; the
    # output of a service (docker logs, a log file) gets the link without it.
    key = ring.first_key if not no_auth and out.isatty() else None
    for line in links(host, port, key):
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
    if log_level.lower() not in LOG_LEVELS:
        raise BadLogLevel(
            f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)} (uvicorn's trace "
            "level would log every request's query string)"
        )
    settings = prepare(ServerSettings(), no_auth=no_auth, host=host, port=port, out=sys.stdout)
    client_settings = ClientSettings()
    if redis_url:
        client_settings = client_settings.model_copy(update={"redis_url": redis_url})
    config = uvicorn.Config(
        create_app(settings, client_settings),
        host=host,
        port=port,
        log_level=log_level.lower(),
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    # After Config: it (re)configures uvicorn's loggers.
    access_log.install()
    uvicorn.Server(config).run()

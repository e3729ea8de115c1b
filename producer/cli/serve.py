"""``respq serve``: OpenAI's Files + Batches API and the dashboard (the ``server`` package)."""

from __future__ import annotations

from typing import Annotated

import typer

from respq.contract.errors import CliError
from respq.contract.extras import require
from respq.producer.cli.app import app, expected_errors, get_state


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Serve without client keys (warns on every start)."),
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level: critical ... debug.")
    ] = "info",
) -> None:
    """Serve OpenAI's Files + Batches API (base_url http://HOST:PORT/v1) and a dashboard at /.

    Clients send 'Authorization: Bearer KEY' with a key from RESPQ_SERVER_API_KEYS
    (comma-separated, each 'tenant:key' or a bare key that is its own tenant): a tenant
    sees only its own files and batches. Keys in RESPQ_SERVER_ADMIN_KEYS see all.
    Uploads are kept in RESPQ_FILES_DIR. The dashboard link with a key is printed only
    when stdout is a terminal.
    """
    state = get_state(ctx)
    with expected_errors(state):
        require("server")
        # Imported here: the core install (no server extra) stays usable.
        from respq.contract.errors import NoKeysConfigured
        from respq.server.run import serve_forever

        try:
            serve_forever(
                host=host,
                port=port,
                no_auth=no_auth,
                redis_url=state.redis_url_option,
                log_level=log_level,
            )
        except NoKeysConfigured as exc:
            raise CliError(str(exc)) from None

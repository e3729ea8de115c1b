"""``respq serve``'s app in-process, on fakeredis, for fast tests of request handling: an
``httpx.AsyncClient`` over ``httpx.ASGITransport`` (the official SDK takes it as its
``http_client``). The app's lifespan does not run: its state is set up here instead, so
nothing connects to a real Redis. Batches that pass validation would start a pipeline on
the settings' Redis: these tests send only what the API refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fakeredis.aioredis import FakeRedis
from pydantic import SecretStr
from starlette.applications import Starlette

from respq import BatchClient, ClientSettings
from respq.server.app import create_app
from respq.server.batches import BatchService
from respq.server.files import FileStore
from respq.server.settings import ServerSettings

KEY = "sk-in-process"


def app_on(redis: FakeRedis, files_dir: Path, **settings: Any) -> Starlette:
    server_settings = ServerSettings(
        server_api_keys=SecretStr(KEY), files_dir=files_dir, **settings
    )
    client = BatchClient(redis, ClientSettings(queue_name="respq-asgi-test"))
    app = create_app(server_settings, client.settings)
    app.state.client = client
    app.state.files = FileStore(client, files_dir, server_settings.max_upload_bytes)
    app.state.batches = BatchService(client, app.state.files)
    return app


@asynccontextmanager
async def api_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``app`` with the key; a 500 is answered, not raised."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://respq.test",
        headers={"authorization": f"Bearer {KEY}"},
    ) as client:
        yield client

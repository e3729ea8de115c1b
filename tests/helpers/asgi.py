"""``respq serve``'s app in-process: an ``httpx.AsyncClient`` over ``httpx.ASGITransport``
(the official SDK takes it as its ``http_client``).

- ``app_on``: on fakeredis, for fast tests of request handling. The app's lifespan does not
  run: its state is set up here instead, so nothing connects to a real Redis. Batches that
  pass validation would start a pipeline on the settings' Redis: these tests send only
  what the API refuses.
- ``served_sdk``: the whole app, lifespan included, on a real Redis database, for tests
  whose batches are validated and enqueued (the pipeline runs in this process, so a test
  can patch what it calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
from fakeredis.aioredis import FakeRedis
from pydantic import SecretStr
from starlette.applications import Starlette

from respq import BatchClient, ClientSettings
from respq.server.app import create_app
from respq.server.batches import BatchService
from respq.server.files import FileStore
from respq.server.settings import ServerSettings

KEY = "sk-in-process"
# served_sdk's key: an admin's, which sees the batches of respq submit and Python too.
ADMIN_KEY = "sk-in-process-admin"


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


@asynccontextmanager
async def served_sdk(
    redis_url: str, queue_name: str, files_dir: Path
) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official async SDK on the whole app (started and stopped with its lifespan) on
    ``redis_url``, with an admin key."""
    settings = ServerSettings(server_admin_keys=SecretStr(ADMIN_KEY), files_dir=files_dir)
    app = create_app(settings, ClientSettings(redis_url=redis_url, queue_name=queue_name))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://respq") as http:
            yield openai.AsyncOpenAI(
                base_url="http://respq/v1", api_key=ADMIN_KEY, http_client=http, max_retries=0
            )

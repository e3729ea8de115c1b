"""The ASGI app of ``respq serve``: OpenAI's Files + Batches endpoints and the dashboard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from respq.contract.errors import (
    ApiError,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RedisFailure,
    RedisOutOfMemory,
    RedisReadOnly,
    RedisUnavailable,
)
from respq.contract.redis_conn import redact_url
from respq.producer.client import BatchClient
from respq.producer.redis_failures import redis_failure
from respq.producer.settings import ClientSettings
from respq.server.auth import KeyRing
from respq.server.batch_inputs import InputFile, input_content
from respq.server.batches import BatchService
from respq.server.body_limits import BodyLimit, body_caps
from respq.server.dashboard import dashboard_routes
from respq.server.expiry import FileSweeper
from respq.server.files import FileStore, OutputFile
from respq.server.middleware import BearerAuth, SecurityHeaders, error_response, viewer
from respq.server.monitor import monitor_routes
from respq.server.resume import recover
from respq.server.sessions import SessionStore
from respq.server.settings import ServerSettings
from respq.server.throttle import SignInThrottle
from respq.server.timeline import timeline_routes

log = logging.getLogger("respq.server")

JSONL = "application/jsonl"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _service(request: Request) -> tuple[FileStore, BatchService]:
    return request.app.state.files, request.app.state.batches


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", param=name) from None


# -- files ------------------------------------------------------------------------------


async def create_file(request: Request) -> Response:
    files, _ = _service(request)
    content_type = request.headers.get("content-type", "")
    return json_response(await files.upload(viewer(request), content_type, request.stream()))


async def list_files(request: Request) -> Response:
    files, _ = _service(request)
    query = request.query_params
    listing = await files.list(
        viewer(request),
        after=query.get("after"),
        limit=_int(request, "limit", 10000),
        order=query.get("order", "desc"),
        purpose=query.get("purpose"),
    )
    return json_response(listing)


async def retrieve_file(request: Request) -> Response:
    files, _ = _service(request)
    return json_response(await files.retrieve(viewer(request), request.path_params["file_id"]))


async def file_content(request: Request) -> Response:
    files, _ = _service(request)
    file_id = request.path_params["file_id"]
    if (rebuilt := InputFile.parse(file_id)) is not None:
        content = await input_content(files.client, viewer(request), rebuilt)
        return StreamingResponse(content, media_type=JSONL)
    out = OutputFile.parse(file_id)
    if out is not None:
        return StreamingResponse(await files.output_content(viewer(request), out), media_type=JSONL)
    await files.retrieve(viewer(request), file_id)  # NotFound for unknown or others' ids
    path = files.path(file_id)
    if not path.is_file():
        raise NotFound(f"the bytes of {file_id} are missing from the files directory")
    return FileResponse(path, media_type=JSONL)


async def delete_file(request: Request) -> Response:
    files, _ = _service(request)
    return json_response(await files.delete(viewer(request), request.path_params["file_id"]))


# -- batches ----------------------------------------------------------------------------


async def create_batch(request: Request) -> Response:
    _, batches = _service(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return json_response(await batches.create(viewer(request), body))


async def list_batches(request: Request) -> Response:
    _, batches = _service(request)
    after = request.query_params.get("after")
    return json_response(await batches.list(viewer(request), after, _int(request, "limit", 20)))


async def retrieve_batch(request: Request) -> Response:
    _, batches = _service(request)
    return json_response(await batches.retrieve(viewer(request), request.path_params["batch_id"]))


async def cancel_batch(request: Request) -> Response:
    _, batches = _service(request)
    return json_response(await batches.cancel(viewer(request), request.path_params["batch_id"]))


async def healthz(request: Request) -> Response:
    """For container healthchecks: no auth, no data; 503 while Redis does not answer."""
    client: BatchClient = request.app.state.client
    await client.ping()
    return json_response({"status": "ok"})


API_ROUTES = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
]


# -- errors --------------------------------------------------------------------------------


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(exc)
    if isinstance(exc, PayloadTooLarge):  # the rest of the body will not be read
        response.headers["connection"] = "close"
    return response


async def unexpected(request: Request, exc: Exception) -> Response:
    """A bug, not bad input: OpenAI's 500 body, never a traceback (uvicorn logs that)."""
    return error_response(ApiError("The server had an error while processing your request."))


# What the API tells a client when Redis fails a call: the cause, never the URL.
_REDIS_CODES: dict[type[RedisFailure], str] = {
    RedisOutOfMemory: "redis_oom",
    RedisReadOnly: "redis_read_only",
    RedisUnavailable: "redis_unavailable",
}


async def redis_down(request: Request, exc: Exception) -> Response:
    """Redis unreachable, frozen, full or read-only: a 503 the client may retry, naming the
    cause (the operator's log line names the URL and the setting to change)."""
    if not isinstance(exc, RedisFailure):  # a library error met outside the client's edge
        settings: ClientSettings = request.app.state.client.settings
        exc = redis_failure(exc, redact_url(settings.redis_url), None) or RedisFailure(
            f"Redis failed: {type(exc).__name__}", redact_url(settings.redis_url)
        )
    log.error("%s", exc)
    code = next((c for kind, c in _REDIS_CODES.items() if isinstance(exc, kind)), "redis_refused")
    error = ApiError(f"the server's Redis failed: {exc.summary}; try again later", code=code)
    return json_response(error.body(), 503)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/v1"):
        error = NotFound if exc.status_code == 404 else BadRequest
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return json_response(error(message).body(), exc.status_code)
    return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain")


def create_app(
    settings: ServerSettings | None = None, client_settings: ClientSettings | None = None
) -> Starlette:
    """The app; Redis and the files directory are opened when it starts (lifespan)."""
    settings = settings or ServerSettings()
    client_settings = client_settings or ClientSettings()
    keys = KeyRing(settings.api_keys(), settings.admin_keys())
    throttle = SignInThrottle(settings.server_auth_failures_per_minute)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = BatchClient.from_url(**client_settings.model_dump())
        app.state.client = client
        app.state.files = FileStore(client, settings.files_dir, settings.max_upload_bytes)
        app.state.batches = BatchService(client, app.state.files)
        app.state.sessions = SessionStore(client.redis, keys, settings.server_session_ttl)
        sweeper = FileSweeper(client.redis, settings.files_dir)
        try:
            await recover(client, app.state.files, app.state.batches)
            sweeper.start()
            yield
        finally:
            await sweeper.stop()
            await client.close()

    app = Starlette(
        routes=[
            *API_ROUTES,
            Route("/healthz", healthz, methods=["GET"]),
            *timeline_routes(),
            *monitor_routes(),
            *dashboard_routes(),
            Mount("/static", StaticFiles(packages=[("respq.server", "static")]), name="static"),
        ],
        exception_handlers={
            ApiError: api_error,
            RedisFailure: redis_down,
            RedisError: redis_down,
            HTTPException: http_error,
            Exception: unexpected,
        },
        lifespan=lifespan,
    )
    app.state.keys = keys
    app.state.throttle = throttle
    app.state.settings = settings
    app.state.samples = {}
    app.add_middleware(BodyLimit, cap=body_caps(settings.max_upload_bytes))
    app.add_middleware(BearerAuth, keys=keys, throttle=throttle)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so every answer has them
    return app

"""The dashboard's workers and limits pages, and the fragments their script refreshes
(``static/dashboard.js`` replaces every ``data-src`` element every two seconds)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from respq.contract.errors import Unauthorized
from respq.producer.client import BatchClient
from respq.producer.monitor import read_limits, read_workers
from respq.server import views
from respq.server.dashboard import signed_in
from respq.server.monitor_views import limits_table, workers_table


def _client(request: Request) -> BatchClient:
    client: BatchClient = request.app.state.client
    return client


async def _workers_fragment(request: Request) -> str:
    now = time.time()
    return workers_table(await read_workers(_client(request).redis, now), now)


async def _limits_fragment(request: Request) -> str:
    redis = _client(request).redis
    return limits_table(await read_limits(redis, await read_workers(redis)))


def _page(request: Request, title: str, src: str, fragment: str) -> Response:
    body = f'<h1>{title}</h1><div id="live" data-src="{src}">{fragment}</div>'
    keys_enabled: bool = request.app.state.keys.enabled
    return HTMLResponse(views.page(title, body, signed_in=keys_enabled))


async def workers_page(request: Request) -> Response:
    if await signed_in(request) is None:
        return RedirectResponse("/", status_code=303)
    return _page(request, "Workers", "/fragments/workers", await _workers_fragment(request))


async def limits_page(request: Request) -> Response:
    if await signed_in(request) is None:
        return RedirectResponse("/", status_code=303)
    return _page(request, "Limits", "/fragments/limits", await _limits_fragment(request))


async def _require(request: Request) -> None:
    # Workers and limits are the deployment's, not a tenant's: any signed-in key sees them.
    if await signed_in(request) is None:
        raise Unauthorized("sign in first", code="invalid_api_key")


async def workers_fragment(request: Request) -> Response:
    await _require(request)
    return HTMLResponse(await _workers_fragment(request))


async def limits_fragment(request: Request) -> Response:
    await _require(request)
    return HTMLResponse(await _limits_fragment(request))


def monitor_routes() -> list[Route]:
    return [
        Route("/workers", workers_page, methods=["GET"]),
        Route("/limits", limits_page, methods=["GET"]),
        Route("/fragments/workers", workers_fragment, methods=["GET"]),
        Route("/fragments/limits", limits_fragment, methods=["GET"]),
    ]


__all__ = ["monitor_routes"]

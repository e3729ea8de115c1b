"""The dashboard's workers and limits pages, and the fragments their script refreshes
(``static/dashboard.js`` replaces every ``data-src`` element every two seconds). They are
the deployment's, not a tenant's, and show what every tenant runs: where tenants share the
server, only an admin key sees them; any other gets the 404 of a page that is not there."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from respq.contract.errors import NotFound, Unauthorized
from respq.producer.client import BatchClient
from respq.producer.monitor import read_limits, read_workers
from respq.server.auth import KeyRing, Principal
from respq.server.dashboard import page_for, signed_in
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


async def _viewer(request: Request) -> Principal | None:
    """Who is signed in (None: no one); NotFound for a tenant of a shared server."""
    viewer = await signed_in(request)
    keys: KeyRing = request.app.state.keys
    if viewer is not None and not keys.sees_deployment(viewer):
        raise NotFound(f"no page at {request.url.path}")
    return viewer


async def _page(
    request: Request, title: str, src: str, fragment: Callable[[Request], Awaitable[str]]
) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return RedirectResponse("/", status_code=303)
    body = f'<h1>{title}</h1><div id="live" data-src="{src}">{await fragment(request)}</div>'
    return page_for(request, viewer, title, body)


async def workers_page(request: Request) -> Response:
    return await _page(request, "Workers", "/fragments/workers", _workers_fragment)


async def limits_page(request: Request) -> Response:
    return await _page(request, "Limits", "/fragments/limits", _limits_fragment)


async def _require(request: Request) -> None:
    if await _viewer(request) is None:
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

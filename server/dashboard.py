"""The dashboard: a login form (or ``/?token=KEY``) that opens a session, the batches list,
a batch page with cancel and downloads, and the fragments its script refreshes. A signed-in
tenant sees its own batches only (an admin, all); others' answer as unknown ids."""

from __future__ import annotations

from html import escape
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from respq.contract.errors import ApiError, BadRequest, Unauthorized
from respq.contract.prices import PriceTable
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo
from respq.producer.costs import BatchCost, batch_cost
from respq.server import views
from respq.server.auth import UNRESTRICTED, KeyRing, Principal
from respq.server.batches import BatchService
from respq.server.estimate_view import estimate_section, estimates_of
from respq.server.files import FileStore, OutputFile
from respq.server.middleware import too_many_sign_ins
from respq.server.sessions import COOKIE_NAME, CSRF_HEADER, SessionStore
from respq.server.throttle import SignInThrottle, client_address
from respq.server.timeline_view import timeline_section

LIST_LIMIT = 100
SAMPLES_PER_CODE = 3
SAMPLE_SCAN_LINES = 20_000
SAMPLE_CACHE_SIZE = 64


def _keys(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.keys
    return keys


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


async def signed_in(request: Request) -> Principal | None:
    """Who the session cookie is (everyone is unrestricted under --no-auth); None: no one."""
    if not _keys(request).enabled:
        return UNRESTRICTED
    session_id = request.cookies.get(COOKIE_NAME)
    return await _sessions(request).find(session_id) if session_id else None


async def _require(request: Request, *, post: bool = False) -> Principal:
    principal = await signed_in(request)
    if principal is None:
        raise Unauthorized("sign in first", code="invalid_api_key")
    if post and request.headers.get(CSRF_HEADER) != "1":
        raise BadRequest(f"dashboard actions need the {CSRF_HEADER} header")
    return principal


async def _sign_in(request: Request, key: str | None, refused: str) -> Response:
    """A session for ``key`` and a redirect to the list; wrong keys are throttled."""
    throttle: SignInThrottle = request.app.state.throttle
    client = client_address(request.scope)
    wait = throttle.retry_after(client)
    if wait:
        error = too_many_sign_ins(wait)
        return HTMLResponse(views.login_page(error.message), error.status, error.headers())
    principal = _keys(request).principal(key) if key is not None else None
    if principal is None:
        throttle.failed(client)
        return HTMLResponse(views.login_page(refused), 401)
    sessions = _sessions(request)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        await sessions.open(principal),
        max_age=sessions.ttl,
        httponly=True,
        samesite="strict",
        # https as the client sees it (uvicorn reads X-Forwarded-Proto from a trusted
        # proxy); plain http on localhost stays usable.
        secure=request.url.scheme == "https",
    )
    return response


def _prices(request: Request) -> PriceTable | None:
    state = request.app.state
    if not hasattr(state, "prices"):
        path = state.settings.prices.strip()
        state.prices = PriceTable.load(path) if path else None
    prices: PriceTable | None = state.prices
    return prices


def _batches(request: Request) -> BatchService:
    service: BatchService = request.app.state.batches
    return service


def _costed(request: Request, info: BatchInfo) -> tuple[BatchInfo, BatchCost]:
    return info, batch_cost(info, _prices(request))


# -- pages ------------------------------------------------------------------------------


def page_for(request: Request, viewer: Principal, title: str, body: str) -> Response:
    """A signed-in page, its links fitting ``viewer``."""
    keys = _keys(request)
    monitoring = keys.sees_deployment(viewer)
    return HTMLResponse(views.page(title, body, signed_in=keys.enabled, monitoring=monitoring))


async def index(request: Request) -> Response:
    token = request.query_params.get("token")
    if token is not None:
        return await _sign_in(request, token, "That link's token is not a valid key.")
    principal = await signed_in(request)
    if principal is None:
        return HTMLResponse(views.login_page())
    fragment = await _list_fragment(request, principal)
    body = '<h1>Batches</h1><div id="live" data-src="/fragments/batches">' + fragment + "</div>"
    return page_for(request, principal, "Batches", body)


async def login(request: Request) -> Response:
    form = await request.form()
    key = form.get("key")
    return await _sign_in(
        request, key if isinstance(key, str) else None, "That key is not accepted."
    )


async def logout(request: Request) -> Response:
    session_id = request.cookies.get(COOKIE_NAME)
    if session_id:
        await _sessions(request).end(session_id)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE_NAME, httponly=True, samesite="strict")
    return response


async def batch_page(request: Request) -> Response:
    principal = await signed_in(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    batch_id = request.path_params["batch_id"]
    fragment = await _detail_fragment(request, principal, batch_id)
    src = f"/fragments/batches/{escape(batch_id)}"
    body = f'<div id="live" data-src="{src}">{fragment}</div>' + timeline_section(batch_id)
    return page_for(request, principal, batch_id, body)


# -- fragments and actions --------------------------------------------------------------


async def _list_fragment(request: Request, principal: Principal) -> str:
    infos, _ = await _batches(request).infos(principal, None, LIST_LIMIT)
    return views.batches_table([_costed(request, info) for info in infos])


async def _detail_fragment(request: Request, principal: Principal, batch_id: str) -> str:
    info = await _batches(request).info(principal, batch_id)
    samples = await _samples(request, info)
    _, cost = _costed(request, info)
    return views.batch_detail(info, cost, samples) + await _input_estimate(request, info)


async def _input_estimate(request: Request, info: BatchInfo) -> str:
    """The estimate of an API batch's uploaded file (respq estimate's numbers)."""
    if not info.input_file_id:
        return ""
    batches = _batches(request)
    try:
        # The batch page already checked that the viewer may see the batch.
        path = await batches.files.input_path(UNRESTRICTED, info.input_file_id)
    except ApiError:  # the file expired or was deleted
        return ""
    estimate = estimates_of(request.app.state).get(
        info.input_file_id, path, batches.client.settings, _prices(request)
    )
    return estimate_section(estimate)


async def list_fragment(request: Request) -> Response:
    principal = await _require(request)
    return HTMLResponse(await _list_fragment(request, principal))


async def detail_fragment(request: Request) -> Response:
    principal = await _require(request)
    batch_id = request.path_params["batch_id"]
    return HTMLResponse(await _detail_fragment(request, principal, batch_id))


async def cancel(request: Request) -> Response:
    principal = await _require(request, post=True)
    batch = await _batches(request).cancel(principal, request.path_params["batch_id"])
    return Response(orjson.dumps(batch), media_type="application/json")


async def download(request: Request) -> Response:
    principal = await _require(request)
    batch_id = request.path_params["batch_id"]
    output = request.path_params["kind"] == "output"
    out = OutputFile(batch_id, output)
    files: FileStore = request.app.state.files
    name = f"{batch_id}_{'output' if output else 'errors'}.jsonl"
    return StreamingResponse(
        await files.output_content(principal, out),
        media_type="application/jsonl",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def line_error(line: dict[str, Any]) -> tuple[str, str]:
    """(code, message) of a failed output line, whichever of OpenAI's shapes it has."""
    error = line.get("error")
    if isinstance(error, dict):
        return str(error.get("code")), str(error.get("message"))
    response = line.get("response") or {}
    body = response.get("body") if isinstance(response, dict) else None
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict) and inner.get("code"):
        return str(inner["code"]), str(inner.get("message"))
    return f"http_{response.get('status_code')}", str(body)[:200]


async def _samples(request: Request, info: BatchInfo) -> views.Samples:
    """A few failed lines per error code, from the first lines of the batch; cached until
    the batch's failure count changes."""
    if not info.errors_by_code:
        return {}
    cache: dict[tuple[str, int], views.Samples] = request.app.state.samples
    key = (info.id, info.request_counts.failed)
    if key in cache:
        return cache[key]
    samples: views.Samples = {}
    files: FileStore = request.app.state.files
    seen = 0
    async for raw in Batch(files.client, info.id).result_lines():
        seen += 1
        if seen > SAMPLE_SCAN_LINES:
            break
        line = orjson.loads(raw)
        if line.get("error") is None and _ok(line):
            continue
        code, message = line_error(line)
        found = samples.setdefault(code, [])
        if len(found) < SAMPLES_PER_CODE:
            found.append((str(line.get("custom_id")), message))
    if len(cache) >= SAMPLE_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = samples
    return samples


def _ok(line: dict[str, Any]) -> bool:
    response = line.get("response")
    code = response.get("status_code") if isinstance(response, dict) else None
    return isinstance(code, int) and 200 <= code < 300


def dashboard_routes() -> list[Route]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/batches/{batch_id}", batch_page, methods=["GET"]),
        Route("/batches/{batch_id}/cancel", cancel, methods=["POST"]),
        Route("/batches/{batch_id}/{kind:str}.jsonl", download, methods=["GET"]),
        Route("/fragments/batches", list_fragment, methods=["GET"]),
        Route("/fragments/batches/{batch_id}", detail_fragment, methods=["GET"]),
    ]

"""A batch's timeline over HTTP (the batch page's charts are ``server/timeline_view.py``).

``GET /v1/batches/{id}/timeline`` (respq's extension of the Batch API; the API's bearer
key) and ``GET /batches/{id}/timeline.json`` (the dashboard's cookie) answer the same JSON:
the buckets of ``contract/timeline.py`` with their rates and latency percentiles, and the
totals. A client that already holds the series asks only for what is new:
``?after=<start of its last bucket>&bucket_seconds=<the width it holds>`` returns the
buckets from that one on (the last bucket of a running batch is still filling, so it
comes again), unless the width has doubled since: then the whole series comes, marked
``"complete": true``, and replaces what the client had.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respq.contract.errors import BadRequest, Unauthorized
from respq.producer.timeline import batch_timeline
from respq.server.auth import Principal
from respq.server.batches import BatchService
from respq.server.dashboard import signed_in
from respq.server.middleware import viewer


def _float(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number", param=name) from None


async def timeline_body(request: Request, viewer: Principal, batch_id: str) -> dict[str, Any]:
    """The JSON of one batch's timeline (NotFound for an unknown batch, or one ``viewer``
    may not see)."""
    batches: BatchService = request.app.state.batches
    info = await batches.info(viewer, batch_id)
    timeline, end = await batch_timeline(batches.client.redis, info)
    after, width = _float(request, "after"), _float(request, "bucket_seconds")
    complete = after is None or width != timeline.bucket_seconds
    body = timeline.as_json(end)
    if not complete:
        body["buckets"] = [b for b in body["buckets"] if b["start"] >= (after or 0.0)]
    return {
        "object": "batch.timeline",
        "batch_id": batch_id,
        "status": info.status.value,
        "complete": complete,
        **body,
    }


def _json(body: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps(body), media_type="application/json", headers={"cache-control": "no-store"}
    )


async def api_timeline(request: Request) -> Response:
    return _json(await timeline_body(request, viewer(request), request.path_params["batch_id"]))


async def dashboard_timeline(request: Request) -> Response:
    principal = await signed_in(request)
    if principal is None:
        raise Unauthorized("sign in first", code="invalid_api_key")
    return _json(await timeline_body(request, principal, request.path_params["batch_id"]))


def timeline_routes() -> list[Route]:
    return [
        Route("/v1/batches/{batch_id}/timeline", api_timeline, methods=["GET"]),
        Route("/batches/{batch_id}/timeline.json", dashboard_timeline, methods=["GET"]),
    ]


__all__ = ["timeline_body", "timeline_routes"]

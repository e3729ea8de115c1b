"""Counters and the compact per-request log behind ``GET /_stats``."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

LOG_SIZE = 100_000
STORE_SIZE = 100_000


class Stats:
    """What the mock saw. Single-threaded (lives on the server's event loop)."""

    def __init__(self) -> None:
        self.request_log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_status: dict[int, int] = {}
        self.rate_limited = 0
        self.auth_failures = 0
        self.max_in_flight = self.in_flight  # requests still running survive a reset
        self.failures_injected: dict[str, int] = {}
        self.request_log.clear()

    def record(
        self,
        request_id: str,
        body: dict[str, Any] | None,
        status: int,
        failure: str | None = None,
        *,
        path: str = "/responses",
    ) -> None:
        """Count one answer to a request of the endpoint at ``path`` (status 0 = connection
        dropped, no answer)."""
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if failure is not None:
            self.failures_injected[failure] = self.failures_injected.get(failure, 0) + 1
        if body is None:
            model = metadata = previous = None
            stream = False
        else:
            model = body.get("model")
            metadata = body.get("metadata")
            previous = body.get("previous_response_id")
            stream = body.get("stream") is True
        self.request_log.append(
            {
                "request_id": request_id,
                "path": path,
                "model": model,
                "metadata": metadata,
                "previous_response_id": previous,
                "stream": stream,
                "status": status,
                "failure": failure,
            }
        )

    def as_dict(self, limiter_max: tuple[int, int]) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "rate_limited": self.rate_limited,
            "max_requests_in_window": limiter_max[0],
            "max_tokens_in_window": limiter_max[1],
            "auth_failures": self.auth_failures,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "failures_injected": dict(self.failures_injected),
            "request_log": list(self.request_log),
        }


class ResponseStore:
    """Stored responses by id, bounded (oldest dropped first)."""

    def __init__(self, size: int = STORE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, response: dict[str, Any]) -> None:
        self._items[response["id"]] = response
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> dict[str, Any] | None:
        return self._items.get(response_id)

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

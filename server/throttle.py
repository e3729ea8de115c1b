"""Failed sign-ins throttled per client address: a token bucket per address, in memory.

Every presented key that is wrong (a bearer header, the dashboard's form, a ``?token=``
link) takes one token from its address's bucket of ``per_minute`` tokens, refilled
evenly over a minute. While the bucket is empty every sign-in from that address is
refused with 429 *before* its key is checked, the right key too: otherwise the answer to
a guess would still tell whether it was right. A success gives nothing back, so a
tenant's own key cannot buy more guesses at another's.

In memory rather than in Redis: ``respq serve`` is one process, a wrong key costs no
round trip, and a restart forgetting the buckets only hands out one more minute's worth.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import Scope

# Addresses remembered at most; the least recently failed are forgotten first (a bucket
# forgotten is a full bucket, no more than a new address would get).
MAX_CLIENTS = 10_000


def client_address(scope: Scope) -> str:
    """The bucket of a request's client: its IP address, an IPv6 one by its /64 (one
    host usually holds a whole /64)."""
    client = scope.get("client")
    host = client[0] if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class SignInThrottle:
    """Token buckets of failed sign-ins by client address; ``per_minute`` 0 = no cap."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def retry_after(self, client: str) -> int:
        """Whole seconds before ``client`` may present a key again; 0: now."""
        if not self.rate:
            return 0
        tokens = self._tokens(client, self._clock())
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.rate))

    def failed(self, client: str) -> None:
        """``client`` presented a wrong key."""
        if not self.rate:
            return
        now = self._clock()
        tokens = max(0.0, self._tokens(client, now) - 1)
        self._buckets[client] = (tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)

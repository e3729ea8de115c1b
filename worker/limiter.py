"""The shared rate limiter: a two-budget GCRA in Redis Lua, one round trip per request.

Every worker process on every machine asks the same Redis script for a send time before it
calls ``POST {base_url}/responses``. The script checks the request budget (cost 1) and the token
budget (cost = estimated tokens) together and either *reserves* a send time in both or touches
nothing.

Burst and margin — why the defaults are what they are
-----------------------------------------------------
A GCRA with rate ``r`` and burst capacity ``B`` admits at most ``B + r·W`` in any window ``W``.
Upstreams enforce either a token bucket (a burst is fine) or a strict sliding 60 s window, and
against the latter any burst turns into 429s. So the default, ``burst = 0``, is pure spacing:
a request is sent when the previous reservation ends, and its cost occupies the budget *after*
its send time (requests are spaced by ``60/RPM`` s, tokens by ``cost·60/TPM`` s; the first
request goes at once).

Pure spacing can still overshoot a sliding window. For consecutive sends ``s_j … s_k`` inside one
window, ``s_k − s_j ≥ Σ_{i=j}^{k−1} c_i / r``, so the window holds ``< 60·r + c_k``: the rate
part plus the cost of the *last* request. Arrivals also shift by network jitter ``D``, which
lets ``60 + D`` seconds of schedule into one 60 s window. Hence:

* ``margin`` (default 0.01) lowers the rate to ``r = L·(1 − margin)·multiplier / 60``, which
  leaves a gap ``G = L − 60·r`` of the per-minute limit ``L`` unused.
* ``r·D`` of that gap absorbs arrival jitter up to ``jitter_allowance`` (0.1 s by default).
* What remains is the slack ``S = floor(G − r·D) + 1`` (costs are integers and the window is
  strict, hence ``+ 1``): a request costing at most ``S`` may end a window, and the window then
  holds at most ``L``. With TPM = 200,000 and the defaults, ``S ≈ 1,670`` tokens; with RPM ≥ 1
  the request budget always has ``S ≥ 1``, so requests never wait extra.
* A request costing ``c > S`` first waits ``(c − S)/r`` after the previous reservation (its
  "pre-wait"). Then for every window ``Σ_{j}^{k−1} c_i + (c_k − S) < 60·r + r·D``, so the window
  holds ``≤ L`` for any cost ``≤ L``.
* So that not every large request pays that idle time, the token budget remembers the
  largest cost sent in the last minute, ``cmax`` (in the ``mult`` hash), and lowers its rate
  to ``r ≤ (L − cmax + 1)/(60 + D)``: the slack is then at least ``cmax``, and only a request
  *larger* than ``cmax`` pays a pre-wait — once, for the difference — before ``cmax`` rises to
  it. ``cmax`` falls back to the current cost once the largest request has left every window
  (``60 + D`` s after its send time); a slower rate earlier in a window only helps. Uniform
  requests of cost ``c`` therefore use ``min(1 − margin, (L − c)/L)`` of the budget (98 % at
  1–2 % of TPM per request), and requests up to ``S`` lose nothing (99 %).

``burst > 0`` (a fraction of a minute's budget) is for token-bucket upstreams: that much may go
at once (classic GCRA with tolerance ``burst·L/r`` seconds), and the pre-wait is off because a
bucket holding the request admits it. A request costing more than ``max(burst, 1)·TPM`` tokens
can never be sent and raises :class:`RequestTooLarge` at once.

The sliding-window algorithm (``Limits(algorithm="window")``)
-------------------------------------------------------------
Instead of spacing, keep a sorted set of sends per budget (member ``seq:cost``, score = send
time) and admit a request at the first time ``s`` (not before the latest reserved send) at
which the cost sent in ``(s − 60 − D, s]`` plus its own fits ``L·(1 − margin)·multiplier``.
Send times only increase, so checking the window that ends at each new send checks every
window; the window's left edge only moves forward, so each entry is subtracted once. An idle
scope therefore sends a whole minute's budget at once, and no strict sliding window (nor a
token bucket of the same size) is ever exceeded. A request larger than the reduced budget
is sent alone in an otherwise empty window.

Everything after the response (usage above the estimate, 429s, ``x-ratelimit-*`` headers)
feeds back through :meth:`RateLimiter.settle`, :meth:`RateLimiter.on_rate_limited` and
:meth:`RateLimiter.observe_headers`, each one round trip.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio

from respq.contract.constants import LIMIT_PREFIX, limit_keys, limit_tag
from respq.contract.errors import RequestTooLarge
from respq.contract.scripts import LuaFolder, ScriptSet
from respq.worker.ratelimit_headers import parse_ratelimit_headers

__all__ = ["Limits", "RateLimiter", "Reservation"]

log = logging.getLogger(__name__)

# One script per algorithm (gcra.lua, window.lua) and one for the operations both share
# (limiter.lua), each after limiter_lib.lua: the keys, the clock and the helpers. They write
# no batch's keys, so they live apart from contract/lua/ and load without its prelude.
LIMITER_LUA = LuaFolder("worker", libraries=("limiter_lib.lua",))
LIMITER_SCRIPTS = ("gcra", "window", "limiter")
_SCRIPT_OF_OP = {"reserve": "gcra", "window": "window"}


# Adaptive behaviour after 429s; one place so the Lua script takes them as arguments.
BACKOFF_BASE = 1.0  # first cool-down without Retry-After, doubled per 429 episode
BACKOFF_CAP = 60.0  # longest cool-down we impose, also for "remaining: 0" resets
# How long a process trusts its last reading of an unlimited scope's cool-down.
COOL_CACHE_S = 0.25
MULT_CUT = 0.8  # rate multiplier applied per 429 episode
MULT_FLOOR = 0.25  # never slow below a quarter of the configured rate
MULT_STEP = 0.01  # added back per successful request, up to 1.0
SUCCESS_STREAK = 5  # successes in a row that reset the back-off exponent
HEADER_TTL_MS = 600_000  # provider limits expire unless seen again (tier upgrades take effect)
HEADER_REFRESH_S = 60.0  # a process rewrites unchanged provider limits at most this often
# Larger than any sensible max_wait; Lua's tonumber('inf') depends on the C library.
_MAX_WAIT_CAP = 1e9


@dataclass(frozen=True)
class Limits:
    """The limits of one scope; 0 means unlimited for that budget."""

    rpm: int
    tpm: int
    burst: float = 0.0
    margin: float = 0.01
    # "gcra" spaces requests evenly; "window" admits whatever fits the sliding 60 s window
    # ending at the send time, so an idle scope may send a whole minute's budget at once.
    algorithm: Literal["gcra", "window"] = "gcra"

    def __post_init__(self) -> None:
        if self.algorithm not in ("gcra", "window"):
            raise ValueError(f"algorithm must be gcra or window, got {self.algorithm!r}")
        if self.rpm < 0 or self.tpm < 0:
            raise ValueError(f"rpm and tpm must be >= 0 (0 = unlimited), got {self}")
        if not (self.burst >= 0 and math.isfinite(self.burst)):
            raise ValueError(f"burst must be a finite fraction >= 0, got {self.burst}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {self.margin}")

    @property
    def unlimited(self) -> bool:
        return self.rpm == 0 and self.tpm == 0

    @property
    def token_capacity(self) -> int:
        """The most tokens one request may cost under the configured TPM (0 = no limit)."""
        return int(self.tpm * max(self.burst, 1.0))


@dataclass(frozen=True)
class Reservation:
    """granted → sleep ``wait`` then send; not granted → nothing reserved, retry after ``wait``."""

    granted: bool
    wait: float


def _text(value: Any) -> str:
    # The client may or may not decode responses.
    return value.decode() if isinstance(value, bytes) else str(value)


class RateLimiter:
    """Reserve send times against limits shared by every worker through Redis.

    ``server_clock=True`` makes the script read ``redis.call('TIME')``, so worker clocks need
    not agree. Deployments that refuse ``TIME`` in scripts set ``server_clock=False``: the
    script then takes ``clock()`` as an argument, and all workers' clocks must be in sync
    (NTP); tests use this mode with a fake clock.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        key_prefix: str = LIMIT_PREFIX,
        server_clock: bool = True,
        clock: Callable[[], float] = time.time,
        jitter_allowance: float = 0.1,
    ) -> None:
        self._redis = redis
        self._scripts = ScriptSet(redis, LIMITER_SCRIPTS, LIMITER_LUA)
        # limiter.lua serves four operations, each reading only its own ARGV: the others
        # are sent blank.
        self._blank = {
            name: ""
            for name in self._scripts["limiter"].signature.args
            if name not in ("op", "now")
        }
        self._prefix = key_prefix
        self._server_clock = server_clock
        self._clock = clock
        self._jitter = jitter_allowance
        # Per instance (one per worker process), not module globals: warn once, write rarely.
        self._warned: set[tuple[str, str]] = set()
        self._hdr_written: dict[str, tuple[int, int, float]] = {}
        self._keys: dict[str, dict[str, str]] = {}
        # Unlimited scopes only need the shared cool-down; reading it once per
        # COOL_CACHE_S per process instead of once per request halves a worker's script
        # calls. scope -> (clock time it was read, clock time the cool-down ends).
        self._cool_seen: dict[str, tuple[float, float]] = {}
        # One read at a time per scope: when the cached value lapses, the hundreds of
        # requests that find it stale together share one round trip instead of each
        # sending its own.
        self._cool_reading: dict[str, asyncio.Future[float]] = {}

    def keys(self, scope: str) -> list[str]:
        """The Redis keys of ``scope`` (one Cluster hash tag): req, tok, cool, mult, hdr, and
        wreq, wtok, wst for the sliding-window algorithm."""
        return list(self._named_keys(scope).values())

    def _named_keys(self, scope: str) -> dict[str, str]:
        cached = self._keys.get(scope)
        if cached is None:
            cached = limit_keys(limit_tag(scope), self._prefix)
            self._keys[scope] = cached
        return cached

    def _now_arg(self) -> str:
        return "" if self._server_clock else f"{self._clock():.6f}"

    async def _call(self, scope: str, op: str, **args: str | int | float) -> Any:
        name = _SCRIPT_OF_OP.get(op, "limiter")
        if name == "limiter":
            args = {**self._blank, **args}
        values: dict[str, Any] = {**self._named_keys(scope), "op": op, "now": self._now_arg()}
        return await self._scripts[name](**values | args)

    async def reserve(
        self, scope: str, limits: Limits, tokens: int, *, max_wait: float
    ) -> Reservation:
        """Reserve a send time for one request costing ``tokens``.

        Raises :class:`RequestTooLarge` when ``tokens`` exceeds the token capacity (configured,
        or tightened by the provider's headers). When the send time is more than ``max_wait``
        away nothing is reserved, so a later request cannot be delayed by one that gave up.
        """
        tokens = max(int(tokens), 0)
        if limits.tpm and tokens > limits.token_capacity:
            raise RequestTooLarge(tokens, limits.token_capacity, limits.tpm)
        max_wait = min(max(max_wait, 0.0), _MAX_WAIT_CAP)
        if limits.unlimited:
            # No budget to track, but a shared cool-down (429s) still holds.
            wait = await self._cool_down(scope)
            return Reservation(wait <= max_wait, wait)
        # The two algorithms take the same arguments, except that only gcra has a burst.
        shape: dict[str, str] = {"margin": repr(float(limits.margin))}
        if limits.algorithm == "window":
            command = "window"
        else:
            command, shape["burst"] = "reserve", repr(float(limits.burst))
        status, wait, capacity, limit = await self._call(
            scope,
            command,
            rpm=limits.rpm,
            tpm=limits.tpm,
            tokens=tokens,
            max_wait=repr(float(max_wait)),
            jitter=repr(float(self._jitter)),
            **shape,
        )
        if int(status) == -1:
            raise RequestTooLarge(tokens, int(_text(capacity)), int(float(_text(limit))))
        return Reservation(int(status) == 1, float(_text(wait)))

    async def settle(
        self,
        scope: str,
        limits: Limits,
        *,
        estimated: int,
        actual: int,
        refund: bool = False,
        success: bool = True,
    ) -> None:
        """Account for the real usage of a sent request; also counts as a success.

        Usage above the estimate is charged to the token budget. The unused part is refunded
        only with ``refund=True``: providers may count ``max_output_tokens`` at admission, so
        giving it back could overshoot their window. ``success=True`` (the default) restores
        the adaptive rate multiplier by 1 % and, after a streak, resets the 429 back-off.
        """
        await self._call(
            scope,
            "settle",
            tpm=limits.tpm,
            margin=repr(float(limits.margin)),
            diff=int(actual) - int(estimated),
            refund="1" if refund else "0",
            step=MULT_STEP if success else 0,
            streak=SUCCESS_STREAK,
            algorithm=limits.algorithm,
        )

    async def on_success(self, scope: str) -> None:
        """Record a success without usage (``settle`` already does this)."""
        await self.settle(scope, Limits(0, 0), estimated=0, actual=0)

    async def _cool_down(self, scope: str) -> float:
        """Seconds left of the scope's shared cool-down, read at most every COOL_CACHE_S."""
        now = self._clock()
        seen = self._cool_seen.get(scope)
        if seen is not None and 0 <= now - seen[0] < COOL_CACHE_S:
            return max(0.0, seen[1] - now)
        reading = self._cool_reading.get(scope)
        if reading is not None:
            await asyncio.wait([reading])
            if not reading.cancelled() and reading.exception() is None:
                return max(0.0, reading.result() - (self._clock() - now))
            # the shared read failed: this request reads for itself
            return float(_text(await self._call(scope, "cool")))
        reading = asyncio.get_running_loop().create_future()
        self._cool_reading[scope] = reading
        try:
            wait = float(_text(await self._call(scope, "cool")))
        except asyncio.CancelledError:
            reading.cancel()
            raise
        except Exception as exc:
            reading.set_exception(exc)
            reading.exception()  # marked as retrieved: the waiters read for themselves
            raise
        finally:
            del self._cool_reading[scope]
        self._cool_seen[scope] = (now, now + wait)
        reading.set_result(wait)
        return wait

    async def on_rate_limited(self, scope: str, retry_after: float | None) -> float:
        """Record a 429 from the provider and return the cool-down now in force, in seconds.

        Every worker honours the cool-down before its next request (``reserve`` folds it into
        the wait). It lasts ``retry_after`` when the provider sent one, else 1 s, 2 s, 4 s, …
        up to 60 s per 429 episode; five successes in a row reset the sequence. Each episode
        also cuts the scope's rate to ×0.8 (floor ×0.25); successes add back 1 % each. 429s
        arriving while a cool-down is active count as the same episode (they come from
        requests that were already in flight).

        Call this only for *rate-limit* 429s: a 429 with ``insufficient_quota`` means the
        account is out of credit, which waiting does not fix. The caller classifies it as a
        final error and does not call this method.
        """
        raw = await self._call(
            scope,
            "r429",
            retry_after="" if retry_after is None else repr(max(float(retry_after), 0.0)),
            cut=MULT_CUT,
            floor=MULT_FLOOR,
            base=BACKOFF_BASE,
            cap=BACKOFF_CAP,
        )
        cool = float(_text(raw))
        now = self._clock()
        self._cool_seen[scope] = (now, now + cool)
        return cool

    async def observe_headers(self, scope: str, limits: Limits, headers: Mapping[str, str]) -> None:
        """Let the provider's ``x-ratelimit-*`` headers tighten (never loosen) the budget.

        A provider limit below the configured one is stored in the scope's ``hdr`` key, so
        every worker uses the lower value; a warning is logged once per limiter (= process).
        ``remaining: 0`` with a reset time becomes a cool-down until the reset (capped at 60 s).
        Costs no round trip unless something changed or a minute has passed.
        """
        parsed = parse_ratelimit_headers(headers)
        if parsed is None:
            return
        prov_rpm = parsed.limit_requests or 0
        prov_tpm = parsed.limit_tokens or 0
        for kind, configured, provider in (
            ("rpm", limits.rpm, prov_rpm),
            ("tpm", limits.tpm, prov_tpm),
        ):
            if configured and 0 < provider < configured and (scope, kind) not in self._warned:
                self._warned.add((scope, kind))
                log.warning(
                    "configured %s=%d for %s is above the provider's limit %d; using %d",
                    kind.upper(),
                    configured,
                    scope,
                    provider,
                    provider,
                )
        cool_for = 0.0
        for remaining, reset in (
            (parsed.remaining_requests, parsed.reset_requests),
            (parsed.remaining_tokens, parsed.reset_tokens),
        ):
            if remaining == 0 and reset:
                cool_for = max(cool_for, min(reset, BACKOFF_CAP))
        now = time.monotonic()
        last = self._hdr_written.get(scope)
        fresh = last is not None and last[:2] == (prov_rpm, prov_tpm)
        fresh = fresh and last is not None and now - last[2] < HEADER_REFRESH_S
        if fresh and cool_for <= 0:
            return
        if not (prov_rpm or prov_tpm or cool_for):
            return
        await self._call(
            scope,
            "hdr",
            provider_rpm=prov_rpm,
            provider_tpm=prov_tpm,
            cool_for=repr(cool_for),
            header_ttl_ms=HEADER_TTL_MS,
        )
        self._hdr_written[scope] = (prov_rpm, prov_tpm, now)

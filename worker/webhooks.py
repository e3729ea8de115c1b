"""Delivering webhook events, at least once, from any worker.

The script that ends a batch writes its event (``contract/webhooks.py``) and puts it in
``respq:webhooks``, scored by when its next attempt is due. Every worker runs one
``WebhookDeliverer`` beside its reconciler: a tick claims the due events
(``contract/lua/webhook_claim.lua`` moves each one a lease ahead, so two workers never send the
same attempt at once and a SIGKILLed worker's claim is retaken after the lease), sends
each one signed, and records the attempt (``contract/lua/webhook_done.lua``). A failed attempt is
due again after ``RESPQ_WEBHOOK_RETRY_BASE`` seconds, doubling each time with jitter, until
``RESPQ_WEBHOOK_MAX_AGE`` after the event; every attempt carries the same ``webhook-id``.

Each attempt resolves the receiver's host again, refuses non-public addresses (unless
allowed) and connects to the address it checked; it ends within ``RESPQ_WEBHOOK_TIMEOUT``
whatever the receiver does, follows no redirect and never reads the answer's body.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from respq.contract.background import Background, tick_every
from respq.contract.constants import (
    WEBHOOK_FIELD_PREFIX,
    WEBHOOK_RECEIVER_KEY,
    WEBHOOK_URL_FIELD,
    BatchKeys,
)
from respq.contract.errors import WebhookTargetError
from respq.contract.scripts import ScriptSet
from respq.contract.webhook_targets import display_url, resolve_target
from respq.contract.webhooks import WebhookSettings, event_body, signed_headers

log = logging.getLogger("respq.worker")

# Events one tick claims (they are sent concurrently), and the extra time a claim holds
# beyond an attempt's deadline before another worker may take the event.
CLAIM_LIMIT = 16
LEASE_MARGIN_S = 5.0
JITTER = 0.2
USER_AGENT = "respq-webhooks"
# respq:webhook-receiver outlives the last worker that wrote it by a day, so a restart or
# a short outage of every worker loses no event; it is written again this often.
RECEIVER_TTL_S = 86_400
ANNOUNCE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt ended: ``error`` is None for a 2xx."""

    error: str | None
    status_code: int | None = None


def retry_delay(attempts: int, base: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: base, 2 × base,
    4 × base, …, each with up to a fifth more of jitter (never sooner than the doubling)."""
    doubling: float = base * 2.0 ** min(attempts - 1, 40)
    return doubling * (1 + random.uniform(0, JITTER))


class WebhookDeliverer(Background):
    """Claims due events and delivers them; one per worker process."""

    def __init__(
        self,
        redis: Redis,
        settings: WebhookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.key = settings.key()
        self.lease_ms = int((settings.webhook_timeout + LEASE_MARGIN_S) * 1000)
        self.interval = min(1.0, settings.webhook_retry_base / 2)
        self.scripts = ScriptSet(redis, ["webhook_claim", "webhook_done"])
        # trust_env=False: no proxy from the environment (the checked address is the one
        # connected to); no redirects: a 3xx could point anywhere.
        self.http = httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)
        self.delivered = 0
        self._announced_at = -math.inf
        super().__init__(
            lambda: tick_every(self.interval, self.tick, log, "webhook delivery"), "respq-webhooks"
        )

    async def stop(self) -> None:
        await super().stop()
        await self.http.aclose()

    async def announce(self) -> None:
        """When this worker has a server-wide receiver (RESPQ_WEBHOOK_URL), say so in
        ``respq:webhook-receiver``, at most every ANNOUNCE_EVERY_S: the scripts that end
        batches write an event only when the batch or some worker has a receiver."""
        now = time.monotonic()
        if self.settings.webhook_url and now - self._announced_at >= ANNOUNCE_EVERY_S:
            await self.redis.set(WEBHOOK_RECEIVER_KEY, "1", ex=RECEIVER_TTL_S)
            self._announced_at = now

    async def tick(self) -> int:
        """Claim the due events and try each once; returns how many were claimed."""
        await self.announce()
        raw = await self.scripts["webhook_claim"](
            now_ms=int(time.time() * 1000),
            lease_ms=self.lease_ms,
            limit=CLAIM_LIMIT,
        )
        stamp, members = _text(raw[0]), [_text(m) for m in raw[1:]]
        await asyncio.gather(*(self.deliver(member, stamp) for member in members))
        return len(members)

    async def deliver(self, member: str, stamp: str) -> None:
        """One attempt of one claimed event, recorded whatever happens."""
        event_id, _, batch_id = member.partition(":")
        meta = BatchKeys(batch_id).meta
        field = WEBHOOK_FIELD_PREFIX + event_id
        raw_event, own_url = await self.redis.hmget(meta, [field, WEBHOOK_URL_FIELD])  # type: ignore[misc]
        url = _text(own_url) if own_url else self.settings.webhook_url
        done: dict[str, Any] = {
            "meta": meta,
            "member": member,
            "stamp": stamp,
            "field": field,
            "next_ms": 0,
            "now": int(time.time()),
            "attempts": 0,
            "error": "",
            "status_code": "",
        }
        if raw_event is None or not url:  # batch expired, or nobody to tell
            await self.scripts["webhook_done"](**done, outcome="dropped")
            return
        event = orjson.loads(raw_event)
        body = event_body(event_id, event["type"], int(event["created_at"]), batch_id)
        attempt = await self.send(url, event_id, body)
        attempts = int(event.get("attempts", 0)) + 1
        now = time.time()
        outcome, next_ms = "delivered", 0
        if attempt.error is not None:
            outcome, next_ms = self._next(attempts, now, int(event["created_at"]))
            log.warning(
                "webhook %s (%s of batch %s) to %s: attempt %d failed: %s",
                event_id,
                event["type"],
                batch_id,
                display_url(url),
                attempts,
                attempt.error,
                extra={"batch_id": batch_id},
            )
        else:
            self.delivered += 1
        await self.scripts["webhook_done"](
            **{
                **done,
                "now": int(now),
                "attempts": attempts,
                "error": attempt.error or "",
                "status_code": "" if attempt.status_code is None else attempt.status_code,
                "next_ms": next_ms,
            },
            outcome=outcome,
        )

    def _next(self, attempts: int, now: float, created_at: int) -> tuple[str, int]:
        """After a failed attempt: ("retry", when) or ("failed", 0) past the max age. The
        last retry goes at the deadline itself rather than not at all."""
        deadline = created_at + self.settings.webhook_max_age
        if now >= deadline:
            return "failed", 0
        due = min(now + retry_delay(attempts, self.settings.webhook_retry_base), deadline)
        return "retry", int(due * 1000)

    async def send(self, url: str, event_id: str, body: bytes) -> Attempt:
        """POST the signed event once, within the attempt's deadline."""
        if self.key is None:
            return Attempt("RESPQ_WEBHOOK_SECRET is not set on the delivering worker")
        try:
            async with asyncio.timeout(self.settings.webhook_timeout):
                target, addresses = await resolve_target(
                    url, allow_private=self.settings.webhook_allow_private
                )
                headers = signed_headers(self.key, event_id, int(time.time()), body)
                request = _pinned_request(self.http, target.url, addresses[0], headers, body)
                response = await self.http.send(request, stream=True)
                await response.aclose()  # the status is the answer; the body is not read
        except WebhookTargetError as exc:
            return Attempt(str(exc))
        except TimeoutError:
            return Attempt(f"no answer within {self.settings.webhook_timeout:g}s")
        except httpx.HTTPError as exc:
            return Attempt(f"connection failed ({exc.__class__.__name__})")
        if 200 <= response.status_code < 300:
            return Attempt(None, response.status_code)
        return Attempt(f"HTTP {response.status_code}", response.status_code)


def _pinned_request(
    http: httpx.AsyncClient, url: str, address: str, headers: dict[str, str], body: bytes
) -> httpx.Request:
    """A POST to ``url`` that connects to ``address`` (the one checked), with the URL's
    own Host header and TLS server name."""
    original = httpx.URL(url)
    request = http.build_request(
        "POST",
        original.copy_with(host=address),
        headers={**headers, "host": original.netloc.decode("ascii"), "user-agent": USER_AGENT},
        content=body,
        extensions={"sni_hostname": original.host},
    )
    return request


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""Dashboard sessions: a random id in the cookie, who it is in Redis, until it expires or
its owner signs out.

Redis holds ``respq:session:<SHA-256 of the id>`` (so whoever reads Redis cannot use a
session) with the tenant, the admin flag and the key's hash prefix, never the key. A
session also ends when its key leaves the settings: each look-up checks that the key is
still configured, with the same tenant and admin flag.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from redis.asyncio import Redis

from respq.contract.constants import SESSION_PREFIX
from respq.server.auth import KeyRing, Principal

COOKIE_NAME = "respq_session"
# Cookie-authenticated POSTs must carry this header: a cross-site form cannot set it, so
# the dashboard's cancel button cannot be triggered from another site.
CSRF_HEADER = "x-respq-dashboard"
_ID_BYTES = 32
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def _key(session_id: str) -> str:
    return SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Open, find and end dashboard sessions."""

    def __init__(self, redis: Redis, keys: KeyRing, ttl: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl

    async def open(self, principal: Principal) -> str:
        """A new session for ``principal``; returns the id the cookie carries."""
        session_id = secrets.token_urlsafe(_ID_BYTES)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            _key(session_id),
            mapping={
                "tenant": principal.tenant or "",
                "admin": int(principal.admin),
                "key": principal.key_id,
            },
        )
        pipe.expire(_key(session_id), self.ttl)
        await pipe.execute()
        return session_id

    async def find(self, session_id: str) -> Principal | None:
        """Who the session is, or None: unknown, expired, ended, or its key is gone."""
        if not _ID_SHAPE.fullmatch(session_id):
            return None
        raw = await self.redis.hgetall(_key(session_id))  # type: ignore[misc]
        if not raw:
            return None
        stored = {k.decode(): v.decode() for k, v in raw.items()}
        principal = self.keys.by_key_id(stored.get("key", ""))
        if principal is None or (principal.tenant or "", str(int(principal.admin))) != (
            stored.get("tenant"),
            stored.get("admin"),
        ):
            await self.end(session_id)
            return None
        return principal

    async def end(self, session_id: str) -> None:
        if _ID_SHAPE.fullmatch(session_id):
            await self.redis.delete(_key(session_id))

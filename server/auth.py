"""Client keys and who they are: each key belongs to a tenant, admin keys see every tenant.

``RESPQ_SERVER_API_KEYS`` and ``RESPQ_SERVER_ADMIN_KEYS`` are comma-separated entries,
``tenant:key`` (several keys may share a tenant) or a bare ``key``, which is its own
tenant ``key:<hash prefix>`` (a SHA-256 prefix of the key: stable across restarts, and
it tells nothing about the key). A key containing ``:`` must be written ``tenant:key``.
Files and batches belong to the tenant of the key that created them; another tenant gets
the same 404 as for an id that does not exist. Admin keys also see the batches of
``respq submit`` and Python, which have no tenant.

Nothing stores or logs a key: Redis holds tenant names and hash prefixes only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from respq.contract.errors import BadKeySetting

API_KEYS_SETTING = "RESPQ_SERVER_API_KEYS"
ADMIN_KEYS_SETTING = "RESPQ_SERVER_ADMIN_KEYS"
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BARE_KEY_TENANT_PREFIX = "key:"
_KEY_ID_CONTEXT = b"respq key id v1\0"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is: the tenant that owns what it creates, whether it sees every
    tenant, and the hash prefix of its key (dashboard sessions end when the key goes)."""

    tenant: str | None
    admin: bool = False
    key_id: str = ""


# --no-auth requests and the server's own work (start-up resume): they see everything
# and what they create has no tenant, like a batch of respq submit.
UNRESTRICTED = Principal(tenant=None, admin=True)


def visible(viewer: Principal, owner: str | None) -> bool:
    """Whether ``viewer`` may see and act on what the tenant ``owner`` (None: no tenant)
    created. The one ownership check of the API and the dashboard."""
    return viewer.admin or (owner is not None and owner == viewer.tenant)


def key_id(key: str) -> str:
    return hashlib.sha256(_KEY_ID_CONTEXT + key.encode()).hexdigest()[:16]


def _parse(entry: str, n: int, setting: str) -> tuple[str, str]:
    """(tenant, key) of the n-th entry (1-based)."""
    name, sep, key = entry.partition(":")
    if not sep:
        return BARE_KEY_TENANT_PREFIX + key_id(entry), entry
    if not key.strip():
        raise BadKeySetting(f"bad setting {setting}: entry {n} has a tenant but no key")
    if not TENANT_NAME.fullmatch(name):
        raise BadKeySetting(
            f"bad setting {setting}: entry {n}'s tenant name must be 1-64 letters, digits, "
            "'_', '.' or '-', starting with a letter or digit (write 'tenant:key')"
        )
    return name, key.strip()


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    principal: Principal


class KeyRing:
    """The accepted keys. A lookup compares the candidate with every key, in constant
    time, whichever matches."""

    def __init__(self, api_keys: list[str], admin_keys: list[str] | None = None) -> None:
        owners: dict[str, tuple[str, bool]] = {}
        order: list[str] = []
        for setting, entries, admin in (
            (API_KEYS_SETTING, api_keys, False),
            (ADMIN_KEYS_SETTING, admin_keys or [], True),
        ):
            seen: set[str] = set()
            for n, entry in enumerate(entries, 1):
                tenant, key = _parse(entry, n, setting)
                if key in seen:
                    raise BadKeySetting(f"bad setting {setting}: entry {n} repeats a key")
                seen.add(key)
                if key in owners and owners[key][0] != tenant:
                    raise BadKeySetting(
                        f"bad setting {setting}: entry {n}'s key is in {API_KEYS_SETTING} "
                        "with another tenant"
                    )
                if key not in owners:
                    order.append(key)
                owners[key] = (tenant, admin or owners.get(key, ("", False))[1])
        self._entries = [
            _Entry(_digest(key), Principal(owners[key][0], owners[key][1], key_id(key)))
            for key in order
        ]
        # One tenant (or none: --no-auth) has nobody else's runs to be shown.
        self._one_tenant = len({tenant for tenant, _ in owners.values()}) <= 1
        admins = [k for k in order if owners[k][1]]
        # The key of the terminal's dashboard link: an admin's when there is one.
        first = admins or order
        self.first_key: str | None = first[0] if first else None

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def sees_deployment(self, viewer: Principal) -> bool:
        """Workers and rate limits are the deployment's, and show what every tenant runs
        (models, rates): an admin sees them, and so does the one tenant of a server that
        has only one (or no keys at all)."""
        return viewer.admin or self._one_tenant

    def principal(self, candidate: str) -> Principal | None:
        """Who ``candidate`` is, or None when it is no key."""
        # Digests of equal length, compared with every key and no early exit: timing
        # tells neither which key matched nor how much of one.
        digest = _digest(candidate)
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.principal
        return found

    def bearer(self, header: str | None) -> Principal | None:
        """Who an ``Authorization: Bearer <key>`` header is; None for anything else."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.principal(value.strip())

    def by_key_id(self, wanted: str) -> Principal | None:
        """The principal of the key with this hash prefix, while that key is configured."""
        return next((e.principal for e in self._entries if e.principal.key_id == wanted), None)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()

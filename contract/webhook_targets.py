"""Which webhook receivers respq will call.

A receiver URL must be ``http`` or ``https`` with a host. Its host is resolved and every
address it resolves to is checked: loopback, private, link-local, shared, reserved,
multicast and unspecified addresses are refused unless ``RESPQ_WEBHOOK_ALLOW_PRIVATE=true``,
so a client of a shared ``respq serve`` cannot make its workers call internal services.
The check runs when a batch names its receiver (a clear error then) and again before every
delivery attempt, whose connection then goes to the checked address itself: a name that
resolves elsewhere between the check and the connect (DNS rebinding) reaches nothing else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from respq.contract.errors import WebhookTargetError

MAX_URL_CHARS: Final = 2048


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed receiver URL."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def shown(self) -> str:
        return display_url(self.url)


def display_url(url: str) -> str:
    """The URL as shown in status, logs and errors: scheme, host, port and path only (a
    receiver's credentials or token in its userinfo or query stay hidden)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    if ":" in host:
        host = f"[{host}]"
    hidden = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


def parse_target(url: str) -> Target:
    """Check the URL's shape (no network); WebhookTargetError when it is not one respq
    calls."""
    if len(url) > MAX_URL_CHARS:
        raise WebhookTargetError(f"webhook URL longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() for c in url):
        raise WebhookTargetError("webhook URL must not contain whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookTargetError("webhook URL is malformed (bad host or port)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookTargetError(
            f"webhook URL must start with http:// or https://, got {scheme or 'no'} scheme"
        )
    host = parts.hostname
    if not host:
        raise WebhookTargetError("webhook URL has no host")
    return Target(url, scheme, host, port or (443 if scheme == "https" else 80))


def refused_reason(address: str) -> str | None:
    """Why an address is not a public one (None when it is)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "non-public"
    return None


async def resolve_target(url: str, *, allow_private: bool) -> tuple[Target, list[str]]:
    """Parse the URL, resolve its host and check every address it resolves to; returns the
    target and its addresses (the checked ones, to connect to)."""
    target = parse_target(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookTargetError(
            f"webhook host {target.host!r} does not resolve ({exc.__class__.__name__})"
        ) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookTargetError(f"webhook host {target.host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refused_reason(address)
            if reason is not None:
                raise WebhookTargetError(
                    f"webhook host {target.host!r} resolves to {reason} address {address}; "
                    "receivers on non-public addresses need RESPQ_WEBHOOK_ALLOW_PRIVATE=true"
                )
    return target, addresses


async def check_webhook(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, once it passes ``resolve_target``; for the places a batch names
    its receiver."""
    url = url.strip()
    await resolve_target(url, allow_private=allow_private)
    return url

"""Redis connections for respq: URL handling (TLS, passwords, Sentinel), redaction, and
a reconnect-with-backoff policy shared by producers and workers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

SENTINEL_SCHEME = "redis+sentinel"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe to print or log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _retry(attempts: int) -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.05), attempts)


def connect(url: str, *, reconnect_attempts: int = 3, **kwargs: Any) -> Redis:
    """A client for ``redis://``, ``rediss://`` (TLS), ``unix://`` or
    ``redis+sentinel://host:port[,host:port]/service_name[/db]`` URLs.

    Connection errors are retried with exponential backoff (``reconnect_attempts`` times)
    so a Redis restart is ridden out instead of failing the caller.
    """
    options: dict[str, Any] = {
        "retry": _retry(reconnect_attempts),
        # OSError too: redis-py retries a (re)connect only on the errors listed here, and a
        # restarting Redis refuses connections (ConnectionRefusedError) for a while;
        # without it the first refused connect failed the command at once.
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
        "health_check_interval": 15,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        **kwargs,
    }
    if url.startswith(SENTINEL_SCHEME + "://"):
        return _sentinel_master(url, options)
    client: Redis = Redis.from_url(url, **options)
    return client


def _sentinel_master(url: str, options: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.partition(":")
        hosts.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(
            "a redis+sentinel URL needs the service name: redis+sentinel://host:26379/mymaster"
        )
    service = path[0]
    db = int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    password = parts.password or next(iter(query.get("password", [])), None)
    sentinel_kwargs: dict[str, Any] | None = {"password": password} if password else None
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    master: Redis = sentinel.master_for(service, db=db, password=password, **options)
    return master

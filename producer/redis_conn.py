"""Redis connections for respq: URL handling (TLS, passwords, Sentinel), redaction, and
a reconnect-with-backoff policy shared by producers and workers."""

from __future__ import annotations

from dataclasses import dataclass
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


def reconnect_policy(attempts: int) -> dict[str, Any]:
    """redis-py options that retry commands through a Redis restart with exponential
    backoff (up to 2 s between tries), ``attempts`` times."""
    return {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), attempts),
        # OSError too: redis-py retries a (re)connect only on the errors listed here, and a
        # restarting Redis refuses connections (ConnectionRefusedError) for a while;
        # without it the first refused connect failed the command at once.
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
    }


def connect(url: str, *, reconnect_attempts: int = 3, **kwargs: Any) -> Redis:
    """A client for ``redis://``, ``rediss://`` (TLS), ``unix://`` or
    ``redis+sentinel://host:port[,host:port]/service_name[/db]`` URLs.

    Connection errors are retried with exponential backoff (``reconnect_attempts`` times)
    so a Redis restart is ridden out instead of failing the caller.
    """
    options: dict[str, Any] = {
        **reconnect_policy(reconnect_attempts),
        "health_check_interval": 15,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        **kwargs,
    }
    if url.startswith(SENTINEL_SCHEME + "://"):
        return _sentinel_master(url, options)
    client: Redis = Redis.from_url(url, **options)
    return client


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://[:password@]host[:port][,host[:port]…]/service[/db]`` URL
    names; shared by the producer client and the workers' arq settings."""

    hosts: list[tuple[str, int]]
    service: str
    db: int
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
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
        query = parse_qs(parts.query)
        password = parts.password or next(iter(query.get("password", [])), None)
        return cls(hosts, path[0], int(path[1]) if len(path) > 1 else 0, password)


def _sentinel_master(url: str, options: dict[str, Any]) -> Redis:
    target = SentinelTarget.parse(url)
    password = target.password
    sentinel_kwargs: dict[str, Any] | None = {"password": password} if password else None
    sentinel = Sentinel(target.hosts, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    master: Redis = sentinel.master_for(target.service, db=target.db, password=password, **options)
    return master

"""Redis connections for respq: URL handling (TLS, passwords, Sentinel), redaction, a
reconnect-with-backoff policy shared by producers and workers, and the bounds on each wait
(RESPQ_REDIS_TIMEOUT) that make an unresponsive Redis an error instead of a hang."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

SENTINEL_SCHEME = "redis+sentinel"
# RESPQ_REDIS_TIMEOUT's default: seconds one wait on Redis may take.
DEFAULT_REDIS_TIMEOUT = 5.0


# Query parameters whose value is a credential (redis-py reads ?password= and Sentinel
# URLs ?sentinel_password=); matched on the lower-cased name.
_SECRET_PARAM_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey")
MASK = "***"


@dataclass(frozen=True)
class _UrlParts:
    """A URL cut by hand, so that no URL, however malformed, makes redaction raise
    (urlsplit raises on a bad port or IPv6 host, and multi-host Sentinel netlocs have
    several ports)."""

    head: str  # "scheme://" (or "" for a string without an authority)
    userinfo: str | None  # before the last "@" of the authority
    hosts: str
    path: str
    query: str | None  # after "?", without it
    fragment: str | None  # after "#", without it

    @classmethod
    def cut(cls, url: str) -> _UrlParts:
        rest, hash_sign, fragment = url.partition("#")
        rest, qmark, query = rest.partition("?")
        head, slashes, after = rest.partition("://")
        if not slashes:
            head, authority, path = "", "", rest
        else:
            head += slashes
            authority, slash, path = after.partition("/")
            path = slash + path
        userinfo: str | None = None
        if "@" in authority:
            userinfo, _, authority = authority.rpartition("@")
        return cls(
            head,
            userinfo,
            authority,
            path,
            query if qmark else None,
            fragment if hash_sign else None,
        )

    def params(self) -> list[tuple[str, str | None]]:
        """(name, value) of each query parameter, raw; value None for a bare name."""
        if self.query is None:
            return []
        found: list[tuple[str, str | None]] = []
        for item in self.query.split("&"):
            name, eq, value = item.partition("=")
            found.append((name, value if eq else None))
        return found


def _is_secret_param(name: str) -> bool:
    name = unquote(name).lower()
    return any(word in name for word in _SECRET_PARAM_WORDS)


def redact_url(url: str) -> str:
    """The URL with every credential replaced by ``***`` (safe to print or log): the
    password of the userinfo (a userinfo without ``:`` is taken as a token and masked
    whole) and secret query parameters (``?password=``, ``?sentinel_password=``...).
    Never raises, whatever the string."""
    parts = _UrlParts.cut(url)
    out = parts.head
    if parts.userinfo is not None:
        user, colon, _ = parts.userinfo.partition(":")
        out += (f"{user}:{MASK}" if colon else MASK) + "@"
    out += parts.hosts + parts.path
    if parts.query is not None:
        params = [
            name if value is None else f"{name}={MASK if _is_secret_param(name) else value}"
            for name, value in parts.params()
        ]
        out += "?" + "&".join(params)
    if parts.fragment is not None:
        out += "#" + parts.fragment
    return out


def url_secrets(url: str) -> list[str]:
    """Every credential in ``url`` as it may appear in a message (raw, percent-decoded and
    percent-encoded), longest first so that masking one never leaves part of another."""
    parts = _UrlParts.cut(url)
    raw: list[str] = []
    if parts.userinfo is not None:
        user, colon, password = parts.userinfo.partition(":")
        raw.append(password if colon else user)
    raw += [value for name, value in parts.params() if value and _is_secret_param(name)]
    found = {form for secret in raw for form in (secret, unquote(secret), quote(secret, safe=""))}
    found.discard("")
    return sorted(found, key=len, reverse=True)


def reconnect_policy(attempts: int, *, retry_timeouts: bool = True) -> dict[str, Any]:
    """redis-py options that retry commands through a Redis restart with exponential
    backoff (up to 2 s between tries), ``attempts`` times.

    With ``retry_timeouts=False`` only refused and reset connections are retried, which
    fail fast: a call that timed out (a frozen Redis, a network partition) fails at once,
    so a caller gives up within one timeout instead of one per attempt."""
    if not retry_timeouts:
        # The builtin ConnectionError is OSError's refused/reset/aborted family; the
        # builtin TimeoutError (a connect that timed out) is its sibling, left out.
        # A timeout is kept out of the Retry itself, not only out of retry_on_error:
        # redis-py's connection health check (a PING inside every new connection's
        # set-up) retries whatever the Retry lists, and a frozen Redis then nested those
        # retries without end. A timed-out read or send drops its connection by itself.
        fast: list[type[Exception]] = [RedisConnectionError, ConnectionError]
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), attempts, (RedisConnectionError,))
        return {"retry": retry, "retry_on_error": fast}
    return {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), attempts),
        # OSError too: redis-py retries a (re)connect only on the errors listed here, and a
        # restarting Redis refuses connections (ConnectionRefusedError) for a while;
        # without it the first refused connect failed the command at once.
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
    }


def timeout_options(seconds: float) -> dict[str, Any]:
    """redis-py options that bound every wait on Redis by ``seconds``: a connect, each
    reply, and each send (a frozen Redis stops reading, and a send then waits for room)."""
    return {
        "socket_connect_timeout": seconds,
        "socket_timeout": seconds,
        **reconnect_policy(3, retry_timeouts=False),
    }


def connect(
    url: str, *, reconnect_attempts: int = 3, timeout: float | None = None, **kwargs: Any
) -> Redis:
    """A client for ``redis://``, ``rediss://`` (TLS), ``unix://`` or
    ``redis+sentinel://host:port[,host:port]/service_name[/db]`` URLs.

    Connection errors are retried with exponential backoff (``reconnect_attempts`` times)
    so a Redis restart is ridden out instead of failing the caller. With ``timeout``,
    every wait on Redis is bounded by it (``timeout_options``) and a timed-out call is not
    retried: an unresponsive Redis fails a call within about ``timeout`` seconds.
    """
    options: dict[str, Any] = {
        **reconnect_policy(reconnect_attempts),
        "health_check_interval": 15,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        **(timeout_options(timeout) if timeout is not None else {}),
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
    # The sentinels are asked first: they get the same bounds as the primary.
    bounds = ("socket_connect_timeout", "socket_timeout")
    sentinel_kwargs: dict[str, Any] = {name: options[name] for name in bounds if name in options}
    if password:
        sentinel_kwargs["password"] = password
    sentinel = Sentinel(target.hosts, sentinel_kwargs=sentinel_kwargs or None)  # type: ignore[no-untyped-call]
    master: Redis = sentinel.master_for(target.service, db=target.db, password=password, **options)
    return master

"""arq's RedisSettings from one RESPQ_REDIS_URL, read as the producer's client reads it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from arq.connections import RedisSettings

from respq.contract.redis_conn import (
    DEFAULT_REDIS_TIMEOUT,
    SENTINEL_SCHEME,
    SentinelTarget,
    reconnect_policy,
)

# Redis restarts are ridden out by retrying commands with backoff (~1 minute in all).
REDIS_RETRIES = 40


def redis_settings(url: str, timeout: float = DEFAULT_REDIS_TIMEOUT) -> RedisSettings:
    """arq RedisSettings for redis://, rediss:// (TLS), unix:// and redis+sentinel:// URLs;
    ``timeout`` (RESPQ_REDIS_TIMEOUT) bounds each connect, and the whole ``--check``."""
    common: dict[str, Any] = {
        **reconnect_policy(REDIS_RETRIES),
        "conn_retries": 30,
        "conn_timeout": timeout,
    }
    if url.startswith(SENTINEL_SCHEME + "://"):
        target = SentinelTarget.parse(url)
        return RedisSettings(
            host=target.hosts,
            sentinel=True,
            sentinel_master=target.service,
            database=target.db,
            password=target.password,
            **common,
        )
    settings = RedisSettings.from_dsn(url)
    for key, value in common.items():
        setattr(settings, key, value)
    # arq's from_dsn drops the query string: take the options redis-py's from_url (the
    # producer's client) understands, so both sides read one URL alike. Without them a
    # rediss:// URL naming its CA (?ssl_ca_certs=...) hung the worker at start-up, and a
    # ?password= was ignored.
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    if "password" in query and not settings.password:
        settings.password = query["password"]
    if "username" in query and not settings.username:
        settings.username = query["username"]
    if url.startswith("rediss://"):
        for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"):
            if key in query:
                setattr(settings, key, query[key])
        if "ssl_check_hostname" in query:
            settings.ssl_check_hostname = query["ssl_check_hostname"].lower() in ("1", "true")
    return settings

"""Redis URLs: TLS, passwords and Sentinel reach both the producer client and arq workers,
and a printed URL never shows its password."""

from __future__ import annotations

from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool

from producer.redis_conn import connect, redact_url
from worker import redis_settings


def test_redact_hides_only_the_password() -> None:
    assert redact_url("redis://:s3cret@db:6380/2") == "redis://:***@db:6380/2"
    assert redact_url("rediss://user:pw@host/0") == "rediss://user:***@host/0"
    assert redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


async def test_producer_client_for_tls_password_and_sentinel_urls() -> None:
    tls = connect("rediss://:pw@cache.example:6380/3")
    kwargs = tls.connection_pool.connection_kwargs
    assert tls.connection_pool.connection_class is SSLConnection
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "cache.example",
        6380,
        3,
        "pw",
    )
    await tls.aclose()

    sentinel = connect("redis+sentinel://:pw@s1:26379,s2:26380/mymaster/2")
    pool = sentinel.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "pw"
    hosts = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in pool.sentinel_manager.sentinels
    ]
    assert hosts == [("s1", 26379), ("s2", 26380)]
    await sentinel.aclose()


def test_worker_settings_for_tls_password_and_sentinel_urls() -> None:
    tls = redis_settings("rediss://:pw@cache.example:6380/3?ssl_cert_reqs=none")
    assert (tls.host, tls.port, tls.database, tls.password, tls.ssl) == (
        "cache.example",
        6380,
        3,
        "pw",
        True,
    )
    assert tls.ssl_cert_reqs == "none"

    sentinel = redis_settings("redis+sentinel://:pw@s1:26379,s2/mymaster/2")
    assert sentinel.sentinel is True
    assert sentinel.host == [("s1", 26379), ("s2", 26379)]
    assert (sentinel.sentinel_master, sentinel.database, sentinel.password) == (
        "mymaster",
        2,
        "pw",
    )

"""Redis URLs: TLS, passwords and Sentinel reach both the producer client and arq workers,
a timeout bounds the producer's waits on Redis and on Sentinels, and a printed URL never
shows its password."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import TimeoutError as RedisTimeoutError

from respq.contract.redis_conn import connect, redact_url, url_secrets
from respq.worker import redis_settings


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


async def test_a_timeout_bounds_every_wait_on_redis_and_on_its_sentinels() -> None:
    plain = connect("redis://db:6379/0", timeout=2.5)
    kwargs = plain.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (2.5, 2.5)
    # A timed-out call is not tried again: the caller hears within one timeout.
    assert RedisTimeoutError not in kwargs["retry_on_error"]
    await plain.aclose()
    sentinel = connect("redis+sentinel://:pw@s1:26379/mymaster/2", timeout=2.5)
    for one in sentinel.connection_pool.sentinel_manager.sentinels:
        asked = one.connection_pool.connection_kwargs
        assert (asked["socket_connect_timeout"], asked["socket_timeout"]) == (2.5, 2.5)
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

    # The producer's client (redis-py's from_url) honours ?password=; the worker too.
    query = redis_settings("redis://db.example:6379/1?password=q-pw&username=app")
    assert (query.host, query.database, query.password, query.username) == (
        "db.example",
        1,
        "q-pw",
        "app",
    )

    sentinel = redis_settings("redis+sentinel://:pw@s1:26379,s2/mymaster/2")
    assert sentinel.sentinel is True
    assert sentinel.host == [("s1", 26379), ("s2", 26379)]
    assert (sentinel.sentinel_master, sentinel.database, sentinel.password) == (
        "mymaster",
        2,
        "pw",
    )


SECRET = "pw-SECRET-91c"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://127.0.0.1:1/0?password={SECRET}", "redis://127.0.0.1:1/0?password=***"),
        (
            f"redis+sentinel://s1:26379/mymaster?sentinel_password={SECRET}&db=2",
            "redis+sentinel://s1:26379/mymaster?sentinel_password=***&db=2",
        ),
        (
            f"redis+sentinel://:{SECRET}@s1:26379,s2:26380/mymaster/2",
            "redis+sentinel://:***@s1:26379,s2:26380/mymaster/2",
        ),
        (f"redis://{SECRET}@host:6379/0", "redis://***@host:6379/0"),
        (f"https://user:{SECRET}@api.example/v1", "https://user:***@api.example/v1"),
        (f"redis://u:{SECRET}@[::1:6379/0", "redis://u:***@[::1:6379/0"),  # bad IPv6
        (f"redis://h/0?Password={SECRET}#frag", "redis://h/0?Password=***#frag"),
        (f"redis://h/0?password={SECRET[:4]}%2D{SECRET[5:]}", "redis://h/0?password=***"),
    ],
)
def test_redact_hides_query_passwords_and_any_userinfo(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    for secret in url_secrets(url):
        assert secret not in redact_url(url)
    assert SECRET in url_secrets(url) or SECRET[:4] + "-" + SECRET[5:] in url_secrets(url)


@settings(max_examples=300, deadline=None)
@given(url=st.text(max_size=80) | st.builds(lambda s: "redis+sentinel://" + s, st.text()))
def test_redact_never_raises(url: str) -> None:
    assert isinstance(redact_url(url), str)
    assert isinstance(url_secrets(url), list)


@settings(max_examples=200, deadline=None)
@given(
    password=st.text(
        alphabet=st.characters(blacklist_characters="/?#&", blacklist_categories=["Cs"]),
        min_size=1,
    ),
    hosts=st.sampled_from(["h:1", "s1:26379,s2:26380", "[::1]:6379", "h"]),
)
def test_redacted_url_never_holds_the_password(password: str, hosts: str) -> None:
    for template in (
        "redis://:{}@" + hosts + "/0",
        "redis+sentinel://u:{}@" + hosts + "/m/1",
        "redis://" + hosts + "/0?password={}",
        "redis+sentinel://" + hosts + "/m?sentinel_password={}&x=1",
    ):
        assert redact_url(template.format(password)) == template.format("***")

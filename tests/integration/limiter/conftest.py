"""The limiter tests' fixtures (``helpers.limiter``), for every module in this folder: the
limiter on the real Redis and on fakeredis[lua], a fake clock, a key prefix per test."""

from helpers.limiter import (  # noqa: F401
    client_fixture,
    clock_fixture,
    make_limiter_fixture,
    prefix_fixture,
    real_redis_fixture,
)

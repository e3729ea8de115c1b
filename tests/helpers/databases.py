"""The shared Redis server and the one registry of its databases.

Integration and reliability tests use the Redis at ``127.0.0.1:6379`` (or
``RESPQ_TEST_REDIS_URL``). Each test module that needs it owns a database, named in
``DATABASES`` below and nowhere else: the ``db`` fixture (``tests/conftest.py``) looks the
module up, flushes its database before the test and after it, and hands the test a
``Database`` with its number, its URL (for worker, CLI and server subprocesses) and a
client. DB 0 is never used. Tests that stop, kill or restart Redis start their own
``redis-server`` instead (``helpers.redis_servers``).
"""

from __future__ import annotations

import os

import pytest
import redis

SERVER_URL = os.environ.get("RESPQ_TEST_REDIS_URL", "redis://127.0.0.1:6379")

# Who owns which database. A key names a test module, or a family of modules by the start
# of their names ("test_cli" is every test_cli_*.py). One number per key, 1 to 15.
DATABASES: dict[str, int] = {
    "test_account_pause": 1,
    "test_core_path": 2,
    "test_server": 3,
    "test_cli": 4,
    "test_worker_signals": 5,
    "test_security": 6,
    "test_hostile_input": 7,
    "test_worker_check": 8,
    "test_fair_scheduling": 9,
    "test_example_script": 10,
    "test_endpoint_batches": 11,
    "test_litellm_upstream": 12,
    "test_mockapi_styles": 13,
    "test_compose_demo": 14,
    "test_limiter": 15,
}


def _check_registry() -> None:
    numbers = list(DATABASES.values())
    assert len(set(numbers)) == len(numbers), f"two names share a database: {DATABASES}"
    assert all(1 <= n <= 15 for n in numbers), "databases 1 to 15 only (never DB 0)"
    for name in DATABASES:
        for other in DATABASES:
            assert other == name or not other.startswith(name + "_"), (
                f"{other!r} is inside {name!r}: give the family one entry"
            )


_check_registry()


def database_number(module: str) -> int:
    """The database of the test module named ``module`` (its file name without .py)."""
    for name, number in DATABASES.items():
        if module == name or module.startswith(name + "_"):
            return number
    raise AssertionError(f"{module} uses the shared Redis: give it a database in {__file__}")


class Database:
    """One database of the shared Redis: its number, its URL, a client to look inside."""

    def __init__(self, number: int) -> None:
        assert 1 <= number <= 15, "databases 1 to 15 only (never DB 0)"
        self.number = number
        self.url = f"{SERVER_URL}/{number}"
        self.redis = redis.Redis.from_url(self.url)

    def flush(self) -> None:
        self.redis.flushdb()

    def open(self) -> Database:
        """Flush it, failing (not skipping: CI starts Redis) when the server is down."""
        try:
            self.flush()
        except redis.RedisError as exc:
            pytest.fail(f"this test needs Redis at {self.url} (run scripts/ensure-redis): {exc}")
        return self

    def close(self) -> None:
        self.flush()
        self.redis.close()

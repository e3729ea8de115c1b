"""The mockapi tests' server: one per module (seeded, hangs cut to 0.2 s), healthy and
emptied before each test, and an HTTP client on it. A module that needs another server
defines its own ``srv``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from respq.mockapi import MockConfig, MockServer

HEALTHY = {"fail_rate": 0.0, "latency": 0.0, "jitter": 0.0, "rpm": 0, "tpm": 0}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(seed=7, hang_seconds=0.2)) as srv:
        yield srv


@pytest.fixture
def srv(server: MockServer) -> MockServer:
    server.control(**HEALTHY, fail_mix="500,503,429,hang,truncated,nonjson")
    server.reset()
    return server


@pytest.fixture
def client(srv: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.base_url, timeout=5) as c:
        yield c

"""``python -m respq.worker --check``, the container health check: unhealthy without a worker,
healthy while one runs, unhealthy again once it has stopped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from respq.mockapi import MockServer

from helpers.databases import Database
from helpers.factories import unique_queue
from helpers.paths import ROOT
from helpers.polling import wait_until
from helpers.processes import subprocess_env, worker_processes


def _check(db: Database, queue: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "respq.worker", "--check"],
        env=subprocess_env(db, queue),
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    ).returncode


@pytest.mark.integration
def test_health_check(mock_upstream: MockServer, db: Database) -> None:
    queue = unique_queue()
    assert _check(db, queue) == 1  # no worker
    with worker_processes(1, db, queue, mock_upstream.base_url):
        wait_until(lambda: _check(db, queue) == 0, 60, "worker reported healthy")
    assert _check(db, queue) == 1  # a stopped worker removes its health key

"""Importing ``respq.worker`` and every one of its modules reads no setting, patches nothing
in arq and leaves logging alone: all of that happens when a worker starts, which for
``arq respq.worker.WorkerSettings`` is when arq loads ``WorkerSettings``. Each check runs
in a fresh interpreter, with RESPQ_* values that any read of the settings would refuse."""

from __future__ import annotations

import os
import subprocess
import sys

# Each one alone stops a worker at start-up (SettingsError).
BROKEN = {
    "RESPQ_WORKER_IN_FLIGHT": "0",
    "RESPQ_MAX_JOBS": "many",
    "RESPQ_REDIS_TIMEOUT": "-1",
    "RESPQ_LOG_LEVEL": "LOUD",
    "RESPQ_WEBHOOK_TIMEOUT": "soon",
}

IMPORT_EVERYTHING = """
import importlib, logging, pkgutil
import arq.worker
arq_functions = (arq.worker.create_worker, arq.worker.async_check_health)
loggers = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level)
           for name in ("", "respq", "respq.worker", "arq")}
import respq.worker
for found in pkgutil.walk_packages(respq.worker.__path__, "respq.worker."):
    importlib.import_module(found.name)  # __main__ too: it runs only as a script
assert (arq.worker.create_worker, arq.worker.async_check_health) == arq_functions, "patched"
for name, before in loggers.items():
    now = (list(logging.getLogger(name).handlers), logging.getLogger(name).level)
    assert now == before, f"logging of {name!r} changed: {before} -> {now}"
print("nothing read, nothing patched")
"""

LOAD_SETTINGS = """
import arq.worker
from arq.utils import import_string
from respq.worker.dispatch import DispatchingWorker
settings = import_string("respq.worker.WorkerSettings")  # what arq's CLI does
worker = arq.worker.create_worker(settings, handle_signals=False)
assert isinstance(worker, DispatchingWorker), type(worker)
assert arq.worker.async_check_health.__module__ == "respq.worker.health"
print(settings.queue_name, settings.max_jobs)
"""


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RESPQ_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_importing_the_worker_reads_no_setting_and_patches_nothing() -> None:
    done = python(IMPORT_EVERYTHING, **BROKEN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nothing read, nothing patched"


def test_the_settings_are_read_when_arq_loads_worker_settings() -> None:
    refused = python(LOAD_SETTINGS, RESPQ_REDIS_TIMEOUT="-1")
    assert refused.returncode == 1
    assert "RESPQ_REDIS_TIMEOUT" in refused.stderr and "Traceback" not in refused.stderr

    loaded = python(LOAD_SETTINGS, RESPQ_QUEUE_NAME="imported-queue")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[0] == "imported-queue"

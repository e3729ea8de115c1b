"""respq's worker side (the ``respq[worker]`` extra): arq settings, the job function, the
upstream client, the shared rate limiter and the retry policy.
``arq respq.worker.WorkerSettings`` or ``python -m respq.worker`` starts a worker.

Importing this package reads no settings, opens nothing and patches nothing: its names
load on first use, and a worker's settings are read when it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from respq.contract.extras import lazy_attributes

if TYPE_CHECKING:
    from respq.worker.app import WorkerSettings, worker_options
    from respq.worker.config import WorkerConfig
    from respq.worker.connection import redis_settings
    from respq.worker.tasks import run_requests

_WHERE = {
    "WorkerSettings": "respq.worker.app",
    "worker_options": "respq.worker.app",
    "WorkerConfig": "respq.worker.config",
    "redis_settings": "respq.worker.connection",
    "run_requests": "respq.worker.tasks",
}


__getattr__ = lazy_attributes("respq.worker", "worker", _WHERE)

__all__ = ["WorkerConfig", "WorkerSettings", "redis_settings", "run_requests", "worker_options"]

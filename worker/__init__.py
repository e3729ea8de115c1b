"""respq's worker side: arq settings, the job function, the upstream client, the shared
rate limiter and the retry policy. ``arq worker.WorkerSettings`` starts a worker."""

from worker.app import WorkerSettings, worker_options
from worker.config import WorkerConfig
from worker.connection import redis_settings
from worker.tasks import run_requests

__all__ = ["WorkerConfig", "WorkerSettings", "redis_settings", "run_requests", "worker_options"]

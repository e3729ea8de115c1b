"""arq wiring: WorkerSettings, start-up and shutdown of one worker process.

Importing it reads no setting and patches nothing: ``WorkerSettings`` is made when arq
loads it (``worker_settings``), which is when a worker starts."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import arq.worker as arq_worker
from redis.exceptions import RedisError

from respq.contract.audit import MAX_JOB_RUNS
from respq.contract.background import Background
from respq.contract.prices import PriceTable
from respq.contract.redis_conn import redact_url
from respq.contract.serializer import dumps_job, loads_job
from respq.contract.webhooks import WebhookSettings
from respq.worker.activity import WorkerActivity
from respq.worker.budget import Budget
from respq.worker.config import WorkerConfig
from respq.worker.connection import redis_settings
from respq.worker.dispatch import DispatchingWorker
from respq.worker.health import check_health
from respq.worker.lease import LeaseKeeper
from respq.worker.limiter import RateLimiter
from respq.worker.logs import setup_logging
from respq.worker.metrics import Metrics
from respq.worker.reconcile import Reconciler
from respq.worker.resilient import RedisHealth
from respq.worker.runner import RequestRunner
from respq.worker.store import WorkerStore
from respq.worker.tasks import run_requests
from respq.worker.upstream import UpstreamClient, build_http_client
from respq.worker.webhooks import WebhookDeliverer

log = logging.getLogger("respq.worker")


def _install_drain_hook(runner: RequestRunner) -> None:
    """On SIGTERM/SIGINT stop starting new requests before arq's own handler runs (which
    stops picking jobs and waits up to job_completion_wait for running ones)."""
    loop = asyncio.get_running_loop()
    handlers = getattr(loop, "_signal_handlers", {})
    for sig in (signal.SIGTERM, signal.SIGINT):
        original = handlers.get(sig)
        if original is None:
            continue

        def drain(original: Any = original) -> None:
            runner.draining = True
            original._run()

        loop.add_signal_handler(sig, drain)


async def startup(ctx: dict[str, Any]) -> None:
    config: WorkerConfig = ctx.get("respq_config") or WorkerConfig()
    setup_logging(config)
    for line in config.old_names():
        log.warning("%s", line)
    redis = ctx["redis"]
    http = build_http_client(config, ctx.get("respq_transport"))
    store = WorkerStore(
        redis,
        queue_name=config.queue_name,
        result_ttl=config.result_ttl,
        chunk_size=config.chunk_size,
    )
    limiter = RateLimiter(redis)
    metrics = Metrics(enabled=config.metrics_port > 0)
    budget = Budget(
        redis,
        PriceTable.load(config.prices) if config.prices else None,
        default_max_output_tokens=config.default_max_output_tokens,
    )
    runner = RequestRunner(
        config, store, UpstreamClient(config, http), limiter, budget=budget, metrics=metrics
    )
    metrics.track_in_flight(lambda: runner.in_flight)
    metrics.start(config.metrics_port, redis, config.queue_name)
    ctx["respq_metrics"] = metrics
    reconciler = Reconciler(store, lease_seconds=config.lease_seconds)
    health: RedisHealth = ctx.get("respq_redis_health") or RedisHealth()
    activity = WorkerActivity(
        runner.sender.activity,
        lambda: runner.results.recorded,
        lease_seconds=config.lease_seconds,
    )
    leases = LeaseKeeper(
        redis,
        lease_seconds=config.lease_seconds,
        in_flight=lambda: runner.in_flight,
        runs=runner.runs,
        # Lets every worker free jobs a dead worker picked but never claimed.
        queue_name=config.queue_name,
        status=lambda: {**health.info(), "requeued": reconciler.requeued, **activity.fields()},
    )
    webhooks = WebhookDeliverer(
        redis,
        ctx.get("respq_webhooks") or WebhookSettings(),
        transport=ctx.get("respq_webhook_transport"),
    )
    try:  # before a batch can end here; the delivery loop says it again every minute
        await webhooks.announce()
    except RedisError as exc:
        log.warning("could not announce the webhook receiver yet: %s", exc)
    for part in (leases, reconciler, webhooks):
        part.start()
    ctx.update(
        respq_config=config,
        respq_http=http,
        respq_runner=runner,
        respq_leases=leases,
        # Stopped in this order at shutdown: the lease goes last, so no other worker takes
        # over this one's jobs while its loops still run.
        respq_stopped_at_shutdown=(metrics, reconciler, webhooks, leases),
    )
    _install_drain_hook(runner)
    log.info(
        "respq worker up: upstream %s (each batch's endpoint below it), %d requests in "
        "flight max, redis %s",
        redact_url(config.base_url),  # a base URL may carry user:key@
        config.worker_in_flight,
        redact_url(config.redis_url),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    parts: tuple[Metrics | Background, ...] = ctx.get("respq_stopped_at_shutdown", ())
    for part in parts:
        await part.stop()
    http = ctx.get("respq_http")
    if http is not None:
        await http.aclose()


def worker_options(config: WorkerConfig) -> dict[str, Any]:
    """The arq Worker keyword arguments for this configuration."""
    return {
        "functions": [run_requests],
        "queue_name": config.queue_name,
        "redis_settings": redis_settings(config.redis_url, config.redis_timeout),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": config.arq_max_jobs,
        "job_timeout": config.job_timeout,
        "poll_delay": config.poll_delay,
        # arq's try counter counts every run (crash reruns, requeues, time-outs); past
        # MAX_JOB_RUNS the job records its requests as worker_error itself (tasks.py), so
        # arq's bound is one more: arq would drop the job without recording anything.
        "max_tries": MAX_JOB_RUNS + 1,
        "keep_result": 0,
        "job_serializer": dumps_job,
        "job_deserializer": loads_job,
        "job_completion_wait": config.shutdown_grace,
        "log_results": False,
        # Read here, so a bad RESPQ_WEBHOOK_* value stops the worker before it starts.
        "ctx": {"respq_config": config, "respq_webhooks": WebhookSettings()},
        "health_check_interval": 10,
    }


def create_worker(settings_cls: Any, **kwargs: Any) -> DispatchingWorker:
    """arq's ``create_worker``, building the worker respq runs."""
    return DispatchingWorker(**{**arq_worker.get_kwargs(settings_cls), **kwargs})


def install() -> None:
    """Make arq's CLI (``arq respq.worker.WorkerSettings [--check]``) build a
    DispatchingWorker and use respq's health check: arq offers no option for either."""
    arq_worker.create_worker = create_worker
    arq_worker.async_check_health = check_health


def worker_settings() -> type:
    """What ``arq respq.worker.WorkerSettings`` loads, made when it is loaded (arq reads it
    only to start a worker or ``--check``): the RESPQ_* settings are read now (a bad value
    stops it with one line, SettingsError) and arq is pointed at respq's worker class."""
    options = worker_options(WorkerConfig())
    install()
    doc = "``arq respq.worker.WorkerSettings``: every value from RESPQ_* environment variables."
    return type("WorkerSettings", (), {"__doc__": doc, "__module__": __name__, **options})


def __getattr__(name: str) -> Any:
    """``WorkerSettings`` is made on first use, so importing this module reads no setting
    and patches nothing."""
    if name == "WorkerSettings":
        return worker_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""``--check``: whether a worker of this queue is alive, answered within
RESPQ_REDIS_TIMEOUT however Redis behaves (``arq respq.worker.WorkerSettings --check`` and
``python -m respq.worker --check`` both run it)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from arq.connections import RedisSettings, create_pool
from arq.constants import default_queue_name, health_check_key_suffix

from respq.worker.resilient import REDIS_FAULTS, describe

log = logging.getLogger("respq.worker")


async def check_health(
    redis_settings: RedisSettings | None,
    health_check_key: str | None = None,
    queue_name: str | None = None,
) -> int:
    """``--check``: 0 while a worker heartbeats; 1 naming the cause otherwise (Redis
    unreachable, silent, or no worker heartbeat), one line, within the settings'
    ``conn_timeout`` (RESPQ_REDIS_TIMEOUT) however Redis behaves: a frozen Redis accepts
    the connection (the kernel does) and then never answers."""
    settings = dataclasses.replace(
        redis_settings or RedisSettings(), conn_retries=0, retry=None, retry_on_error=None
    )
    queue_name = queue_name or default_queue_name
    key = health_check_key or (queue_name + health_check_key_suffix)
    bound = float(settings.conn_timeout)
    try:
        async with asyncio.timeout(bound):
            data = await _read_health(settings, key)
    except TimeoutError:
        log.error(
            "health check failed: Redis at %s did not answer within %gs (RESPQ_REDIS_TIMEOUT)",
            describe(settings),
            bound,
        )
        return 1
    except REDIS_FAULTS as exc:
        log.error(
            "health check failed: Redis unreachable at %s (%s); check RESPQ_REDIS_URL",
            describe(settings),
            exc,
        )
        return 1
    if not data:
        log.error("health check failed: no worker heartbeat on %s (%s)", describe(settings), key)
        return 1
    log.info("health check ok: %s", data.decode(errors="replace"))
    return 0


async def _read_health(settings: RedisSettings, key: str) -> bytes | None:
    redis = await create_pool(settings)
    try:
        data: bytes | None = await redis.get(key)
        return data
    finally:
        await redis.aclose()

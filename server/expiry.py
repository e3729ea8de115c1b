"""Files and batch outputs that expire, as OpenAI's do.

- ``files.create(expires_after={"anchor": "created_at", "seconds": N})`` (3,600 ≤ N ≤
  2,592,000) sets the uploaded file's ``expires_at``; without it a batch input file
  expires after ``RESPQ_FILE_EXPIRES_AFTER`` seconds (OpenAI's 30 days; 0 = never).
  When a file expires, ``FileSweeper`` (a task of ``respq serve``) removes its bytes from
  disk, its record and its index entry: the bytes are on disk, where no Redis TTL reaches,
  so something must delete them; the sweep reads only the files due (a zset by expiry).
- ``batches.create(output_expires_after={...})`` (same bounds) sets the output and error
  files' ``expires_at`` from their creation (the batch's end). Those files are views of
  the batch's results in Redis, so the script that ends the batch gives every key of the
  batch that ttl instead of ``RESPQ_RESULT_TTL``: its results leave Redis on time by
  themselves, with nothing to sweep, even while no server runs.

Out-of-range or malformed values are a 400 naming the parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Final

from pydantic import Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from respq.contract.background import Background
from respq.contract.constants import FILE_EXPIRY_KEY, FILE_PREFIX, FILES_KEY
from respq.contract.errors import BadRequest
from respq.contract.settings import EnvSettings

log = logging.getLogger("respq.server")

MIN_SECONDS: Final = 3600
MAX_SECONDS: Final = 2_592_000
ANCHOR: Final = "created_at"
SWEEP_EVERY_S: Final = 30.0
SWEEP_BATCH: Final = 500


class ExpirySettings(EnvSettings):
    """``RESPQ_FILE_EXPIRES_AFTER``: seconds an uploaded batch file lives when its upload
    names no ``expires_after`` (0 = never)."""

    file_expires_after: int = Field(default=30 * 86400, ge=0)


def _seconds(seconds: Any, param: str) -> int:
    if isinstance(seconds, str) and seconds.strip().isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise BadRequest(f"'{param}.seconds' must be an integer", param=param, code="invalid_type")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise BadRequest(
            f"'{param}.seconds' must be between {MIN_SECONDS} and {MAX_SECONDS}, got {seconds}",
            param=param,
            code="invalid_value",
        )
    return seconds


def _anchor(anchor: Any, param: str) -> None:
    if anchor != ANCHOR:
        raise BadRequest(
            f"'{param}.anchor' must be '{ANCHOR}', got {anchor!r}",
            param=param,
            code="invalid_value",
        )


def expires_after(value: Any, param: str) -> int | None:
    """Seconds from a JSON ``{"anchor": "created_at", "seconds": N}``; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(
            f"'{param}' must be an object with 'anchor' and 'seconds'",
            param=param,
            code="invalid_type",
        )
    _anchor(value.get("anchor"), param)
    return _seconds(value.get("seconds"), param)


def form_expires_after(fields: dict[str, str], param: str = "expires_after") -> int | None:
    """The same from a multipart upload's fields (``expires_after[anchor]``,
    ``expires_after[seconds]``, as the SDK sends them)."""
    anchor, seconds = fields.get(f"{param}[anchor]"), fields.get(f"{param}[seconds]")
    if anchor is None and seconds is None:
        return None
    _anchor(anchor, param)
    return _seconds(seconds, param)


def upload_expires_at(fields: dict[str, str], created_at: int) -> int | None:
    """When an upload expires: its own ``expires_after``, else the server's default."""
    seconds = form_expires_after(fields)
    if seconds is None:
        seconds = ExpirySettings().file_expires_after or None
    return created_at + seconds if seconds else None


def expiry_shape(seconds: int | None) -> dict[str, Any] | None:
    """``output_expires_after`` as the batch object echoes it."""
    return {"anchor": ANCHOR, "seconds": seconds} if seconds else None


class FileSweeper(Background):
    """Deletes expired uploads: bytes on disk, record, index entries."""

    def __init__(self, redis: Redis, files_dir: Path, *, every: float = SWEEP_EVERY_S) -> None:
        self.redis = redis
        self.files_dir = files_dir
        self.every = every
        super().__init__(self._run, "respq-file-sweeper")

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except RedisError as exc:  # an outage: try again next round
                log.info("file expiry sweep paused by a Redis error: %s", exc)
            await asyncio.sleep(self.every)

    async def sweep(self, now: float | None = None) -> int:
        """Remove every file whose ``expires_at`` has passed; returns how many."""
        due = await self.redis.zrangebyscore(
            FILE_EXPIRY_KEY, "-inf", int(now or time.time()), start=0, num=SWEEP_BATCH
        )
        for raw in due:
            file_id = raw.decode()
            # Bytes first: a record without bytes is refused like a missing file, while
            # bytes without a record would stay on disk for good.
            with contextlib.suppress(FileNotFoundError):
                (self.files_dir / f"{file_id}.jsonl").unlink()
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(FILE_PREFIX + file_id)
            pipe.zrem(FILES_KEY, file_id)
            pipe.zrem(FILE_EXPIRY_KEY, file_id)
            await pipe.execute()
        if due:
            log.info("removed %d expired file(s)", len(due))
        return len(due)

"""What the producer makes of Redis failing it: one RedisFailure subclass per cause whose
message is the server's reply at most, never the requests redis-py writes into a failed
pipeline's error; a new batch whose enqueue stopped is removed, or the message says it
could not be; and no round trip of an enqueue grows with the batch, so every one fits
RESPQ_REDIS_TIMEOUT (tests/reliability/test_environment_failures.py has the real servers)."""

from __future__ import annotations

from typing import Any

import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis
from redis.asyncio.client import Pipeline
from redis.exceptions import (
    AuthenticationError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    WatchError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from respq import BatchClient, ClientSettings
from respq.contract import errors
from respq.contract.constants import BatchKeys
from respq.contract.exit_codes import ExitCode
from respq.producer import client as client_module
from respq.producer.cli.app import exit_code_of
from respq.producer.enqueue import ROUND_TRIP_BYTES, SLICE_BYTES
from respq.producer.redis_failures import redis_failure

from helpers.factories import items
from helpers.faults import fail_enqueue_after

URL = "redis://:***@db:6379/0"
SECRET = "the user's SECRET prompt"


def in_pipeline(exc: Exception) -> Exception:
    """``exc`` as redis-py raises it from a pipeline: the command, with every argument,
    written before the server's reply."""
    Pipeline.annotate_exception(None, exc, 3, ("EVALSHA", "0123abcd", "6", SECRET * 1000))  # type: ignore[arg-type]
    return exc


@pytest.mark.parametrize(
    ("error", "kind", "code", "words"),
    [
        (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
         errors.RedisOutOfMemory, ExitCode.REDIS_OUT_OF_MEMORY, "raise maxmemory"),
        (ReadOnlyError("You can't write against a read only replica."),
         errors.RedisReadOnly, ExitCode.REDIS_READ_ONLY, "point RESPQ_REDIS_URL at the primary"),
        (ResponseError("MISCONF Redis is configured to save RDB snapshots"),
         errors.RedisRefused, ExitCode.REDIS_REFUSED, "refused a command: MISCONF Redis is"),
        (RedisTimeoutError("Timeout reading from db:6379"),
         errors.RedisNotResponding, ExitCode.REDIS_TIMEOUT, "did not answer within 5s"),
        (TimeoutError(), errors.RedisNotResponding, ExitCode.REDIS_TIMEOUT, "RESPQ_REDIS_TIMEOUT"),
        (RedisConnectionError("Error 111 connecting to db:6379. Connection refused."),
         errors.RedisUnavailable, ExitCode.REDIS, "cannot reach Redis at"),
        (AuthenticationError("invalid password"),
         errors.RedisUnavailable, ExitCode.REDIS, "(invalid password); check RESPQ_REDIS_URL"),
    ],
)  # fmt: skip
def test_each_cause_is_its_own_class_and_exit_code_and_never_carries_a_request(
    error: Exception, kind: type[errors.RedisFailure], code: ExitCode, words: str
) -> None:
    failure = redis_failure(in_pipeline(error), URL, 5.0)
    assert type(failure) is kind
    assert failure is not None and exit_code_of(failure) is code
    message = str(failure)
    assert words in message and URL in message, message
    assert "\n" not in message and len(message) < 400
    # The chained cause is cut down too: a traceback of it shows no request either.
    assert SECRET not in message and SECRET not in str(error) and SECRET not in repr(error)


def test_what_is_not_a_redis_failure_stays_itself() -> None:
    assert redis_failure(WatchError("watched key changed"), URL, 5.0) is None
    assert redis_failure(ValueError("a bug"), URL, 5.0) is None


async def test_a_batch_stopped_midway_is_removed_and_the_message_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    fail_enqueue_after(client, 1, OutOfMemoryError("command not allowed"), monkeypatch)
    with pytest.raises(errors.RedisOutOfMemory) as caught:
        await client.submit(items(2000), batch_id="b1")
    assert str(caught.value).endswith("; nothing of batch b1 was kept (it was never sealed)")
    assert await redis.dbsize() == 0
    await client.close()


async def test_a_batch_that_cannot_be_removed_after_a_failure_is_said_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failover midway: the server that took the first slices is a replica now, so the
    unsealed batch cannot be removed there either."""
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    replica = ReadOnlyError("You can't write against a replica.")
    fail_enqueue_after(client, 1, replica, monkeypatch)

    async def read_only(*_: Any) -> bool:
        raise errors.RedisReadOnly(f"Redis at {URL} is a read-only replica", URL)

    monkeypatch.setattr(client_module, "discard_unsealed", read_only)
    with pytest.raises(errors.RedisReadOnly) as caught:
        await client.submit(items(2000), batch_id="b1")
    assert str(caught.value).endswith(
        "; batch b1 was never sealed, so no worker will run it, but what was enqueued of it "
        "could not be removed (Redis is read-only): cancel it, or submit the same requests "
        "again with batch id b1 to finish it"
    )
    meta = await redis.hgetall(BatchKeys("b1").meta)
    assert meta[b"sealed"] == b"0" and not await redis.exists("respq:schedule:q")
    await client.close()


async def test_enqueue_round_trips_stay_a_few_mib_whatever_the_requests_weigh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A socket timeout of a few seconds bounds each send: one round trip per 16 slices of
    256 requests (here all 1,200 requests of 16 KiB prompts, 19 MB) could outlast it."""
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q", chunk_size=16))
    sent: list[int] = []
    real_execute = Pipeline.execute

    async def measured(self: Pipeline, raise_on_error: bool = True) -> Any:
        stack = self.command_stack
        sent.append(sum(len(a) for args, _ in stack for a in args if isinstance(a, bytes)))
        return await real_execute(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", measured)
    batch = await client.submit(items(1200, text="x" * 16 * 1024))
    monkeypatch.undo()
    assert (await batch.status()).request_counts.total == 1200
    assert sum(sent) > 1200 * 16 * 1024
    assert max(sent) <= ROUND_TRIP_BYTES + SLICE_BYTES + 64 * 1024, sent
    # Slices are cut on job boundaries: every job but the last is full.
    jobs = await redis.lrange(BatchKeys(batch.id).jobs, 0, -1)
    sizes = [int(job.split(b"\n")[1]) for job in jobs]
    assert set(sizes[:-1]) == {16} and sum(sizes) == 1200
    await client.close()

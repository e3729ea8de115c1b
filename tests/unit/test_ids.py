"""Ids and lifetimes owned once (contract/ids.py, contract/constants.py): the Lua prelude's
builders make exactly the ids Python makes, and the same job record lifetime; and the
scripts name their jobs and lines with them (on fakeredis)."""

from __future__ import annotations

import re

import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq import BatchClient
from respq.contract.constants import ARQ_JOB_PREFIX, BatchKeys, job_ttl_s
from respq.contract.ids import (
    ID_FORMATS,
    LINE_IN_CALL,
    RETRY_JOB,
    SUBMIT_JOB,
    IdFormat,
    new_line_id,
)
from respq.contract.lines import error_line
from respq.contract.scripts import lua_prelude
from respq.worker.results import Result, ResultWriter
from respq.worker.store import WorkerStore

# One value per field any id has; numbers go to Lua as numbers, as the scripts' counters do.
VALUES: dict[str, str | int] = {
    "batch": "batch_0a1b",
    "submit": 3,
    "n": 17,
    "token": "c0ffee00beef",
    "page": 2000,
    "ms": 1733400000123,
    "parent": "req:7",
    "at": "1733400000",
}


def lua_literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + value + "'"


def pattern(id_format: IdFormat) -> re.Pattern[str]:
    """A regex that matches the ids of ``id_format``, each field as a named group."""
    parts = [
        re.escape(text) + (f"(?P<{field}>.+)" if field else "") for text, field in id_format.parts()
    ]
    return re.compile("".join(parts))


async def test_lua_builds_every_id_exactly_as_python_does(fake_redis: FakeRedis) -> None:
    calls = [
        f"ID.{f.name}({', '.join(lua_literal(VALUES[field]) for field in f.fields)})"
        for f in ID_FORMATS
    ]
    script = lua_prelude() + "return {" + ", ".join(calls) + "}"
    built = await fake_redis.eval(script, 0)  # type: ignore[misc]
    python = [f(**{field: VALUES[field] for field in f.fields}) for f in ID_FORMATS]
    assert [raw.decode() for raw in built] == python
    assert python[0] == "batch_0a1b:3:17" and python[3] == "batch_0a1b:k:1733400000123:req:7:17"


@pytest.mark.parametrize("result_ttl", [60, 7 * 86_400])
async def test_lua_gives_job_records_the_lifetime_python_does(
    fake_redis: FakeRedis, result_ttl: int
) -> None:
    script = lua_prelude() + f"return job_ttl_ms('{result_ttl}')"
    assert await fake_redis.eval(script, 0) == job_ttl_s(result_ttl) * 1000  # type: ignore[misc]
    assert job_ttl_s(result_ttl) == result_ttl + 86_400


def test_an_id_takes_exactly_its_fields() -> None:
    assert SUBMIT_JOB.fields == ("batch", "submit", "n")
    with pytest.raises(TypeError):
        SUBMIT_JOB(batch="b", submit=1)
    with pytest.raises(TypeError):
        SUBMIT_JOB(batch="b", submit=1, n=2, token="x")
    assert re.fullmatch(r"batch_req_[0-9a-f]{24}", new_line_id())


async def test_the_scripts_name_jobs_and_lines_and_time_records_with_the_shared_builders(
    fake_redis: FakeRedis, fake_client: BatchClient, queue_name: str
) -> None:
    items = [{"custom_id": f"r{i}", "body": {"model": "gpt-5.4", "input": "x"}} for i in range(6)]
    batch = await fake_client.submit(items)
    keys = BatchKeys(batch.id)
    entries = await fake_redis.lrange(keys.jobs, 0, -1)  # type: ignore[misc]
    waiting = [entry.decode().split("\n")[0] for entry in entries]
    assert waiting, "enqueue.lua wrote no jobs"
    for job_id in waiting:
        found = pattern(SUBMIT_JOB).fullmatch(job_id)
        assert found and found["batch"] == batch.id and found["submit"] == "1", job_id

    # A failure retried: retry.lua names its job and times its record as Python would.
    store = WorkerStore(fake_redis, queue_name=queue_name, result_ttl=3600)
    failed = error_line("r0", "request_timeout", "no answer")
    await ResultWriter(store).record(batch.id, Result("r0", failed))
    await fake_redis.delete(queue_name)
    assert await batch.retry() == 1
    (retry_job,) = [job.decode() for job in await fake_redis.zrange(queue_name, 0, -1)]
    found = pattern(RETRY_JOB).fullmatch(retry_job)
    assert found and found["batch"] == batch.id and (found["page"], found["n"]) == ("0", "1")
    lifetime = job_ttl_s(fake_client.settings.result_ttl) * 1000
    assert lifetime - 5_000 < await fake_redis.pttl(ARQ_JOB_PREFIX + retry_job) <= lifetime

    # cancel.lua numbers the lines it writes in one call with the shared line id.
    await batch.cancel()
    for raw in (await fake_redis.hgetall(keys.res)).values():  # type: ignore[misc]
        line = orjson.loads(raw)
        found = pattern(LINE_IN_CALL).fullmatch(line["id"])
        assert found and int(found["n"]) >= 1, line["id"]

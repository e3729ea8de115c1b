"""How output lines are kept in Redis (contract/stored.py): successes zstd-packed with a
fixed dictionary, failures as JSON; every reader gets the worker's exact bytes back, and
the Lua that reads lines (retry.lua) tells a packed success from a failure."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
import pytest
from fakeredis.aioredis import FakeRedis
from hypothesis import given, settings
from hypothesis import strategies as st

from respq import BatchClient
from respq.contract import stored
from respq.contract.audit import Auditor
from respq.contract.constants import BatchKeys
from respq.contract.lines import answer_line, error_line
from respq.contract.response import Usage
from respq.contract.stored import PACKED_V1, StoredLineError, pack_success, unpack
from respq.worker.results import Result, ResultWriter
from respq.worker.store import WorkerStore

from helpers.factories import response_body

FIXTURES = Path(__file__).parents[1] / "fixtures" / "provider_responses.json"

# A line packed with dictionary v1 when it was introduced. Decoding must keep working for
# as long as a batch can hold such a line: a changed dictionary breaks this test.
GOLDEN_PACKED = bytes.fromhex(
    "016061004503002402676f6c64656e53746f726564206c696e65732073746179207265616461626c6533"
    "381500656b16c0b204f8400190c16288fb2ed760fca837f7d4b57c079e000e1506c5400e11e70186033b"
    "4c9107882e128e042f903654c002e4a80ac81d4e4435804bd90102"
)
GOLDEN_LINE = {
    "id": "batch_req_0",
    "custom_id": "golden",
    "response": {
        "status_code": 200,
        "request_id": "req_1",
        "body": {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Stored lines stay readable."}],
                }
            ],
            "usage": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
        },
    },
    "error": None,
}
DICTIONARY_SHA256 = "9f2c5c07a4832730beb7f9fff2b7e8574f3bdd42ff97489c9c48210dc975a356"


def provider_lines() -> list[Any]:
    recorded = json.loads(FIXTURES.read_text())
    return [
        pytest.param(orjson.dumps(answer_line(f"c{i}", 200, "req_x", case["body"])), id=name)
        for i, case in enumerate(recorded)
        for name in [case["provider"].split(" (")[0]]
    ]


def test_a_line_packed_by_the_first_version_still_reads() -> None:
    assert orjson.loads(unpack(GOLDEN_PACKED)) == GOLDEN_LINE
    raw = files("respq.contract").joinpath("data/line_dictionary_v1.jsonl").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DICTIONARY_SHA256


@pytest.mark.parametrize("line", provider_lines())
def test_every_providers_answer_comes_back_byte_for_byte(line: bytes) -> None:
    packed = pack_success(line)
    assert packed[0] == PACKED_V1
    assert unpack(packed) == line


JSON_VALUES = st.recursive(st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(), st.lists)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), JSON_VALUES))
def test_any_json_object_round_trips(obj: dict[str, Any]) -> None:
    line = orjson.dumps(obj)
    assert unpack(pack_success(line)) == line


def test_a_json_line_is_read_as_it_is() -> None:
    line = orjson.dumps(error_line("c1", "server_error", "boom"))
    assert unpack(line) == line


def test_a_typical_answer_is_kept_in_a_fraction_of_its_json() -> None:
    # The JSON of mockapi's answer (OpenAI's full shape), as a short-prompt batch stores it.
    line = orjson.dumps(answer_line("request-17", 200, "req_5f0e", response_body(text="Hello!")))
    assert len(pack_success(line)) < 0.45 * len(line)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [(b"\x07abc", "unknown byte 0x07"), (bytes((PACKED_V1,)) + b"not zstd", "corrupt")],
)
def test_an_unreadable_stored_line_is_a_clear_error(stored: bytes, problem: str) -> None:
    with pytest.raises(StoredLineError, match=problem):
        unpack(stored)


async def test_readers_get_the_lines_back_and_retry_takes_only_failures(
    fake_client: BatchClient, fake_redis: FakeRedis, queue_name: str
) -> None:
    items: list[dict[str, Any]] = [
        {"custom_id": "ok", "body": {"model": "gpt-5.4", "input": "x"}},
        {"custom_id": "child-of-ok", "body": {"model": "gpt-5.4", "input": "y"}},
        {"custom_id": "bad", "body": {"model": "gpt-5.4", "input": "z"}},
    ]
    items[1]["depends_on"] = "ok"
    batch = await fake_client.submit(items)
    store = WorkerStore(fake_redis, queue_name=queue_name, result_ttl=3600)
    body = response_body()
    usage = Usage.read(body["usage"])
    good = answer_line("ok", 200, "req_1", body)
    failed_child = answer_line("child-of-ok", 500, "req_2", {"error": {"code": "server_error"}})
    bad = error_line("bad", "request_timeout", "no answer")
    writer = ResultWriter(store)
    await asyncio.gather(
        writer.record(batch.id, Result("ok", good, ok=True, model="gpt-5.4", usage=usage)),
        writer.record(batch.id, Result("bad", bad, ok=False, code="request_timeout")),
    )
    await writer.record(
        batch.id, Result("child-of-ok", failed_child, ok=False, code="server_error")
    )

    res = await fake_redis.hgetall(BatchKeys(batch.id).res)
    assert res[b"ok"][0] == PACKED_V1 and res[b"bad"][:1] == b"{"
    lines = [orjson.loads(raw) async for raw in batch.result_lines()]
    assert lines == [good, failed_child, bad]
    audit = await Auditor(fake_redis, queue_name=queue_name).counters(batch.id)
    assert audit.drift == {} and audit.derived["usage:total_tokens"] == usage.total_tokens > 0

    # retry: the packed success is left alone; the child re-runs because its parent
    # (packed) succeeded, and the timed-out request re-runs.
    assert await batch.retry() == 2
    assert set(await fake_redis.hkeys(BatchKeys(batch.id).res)) == {b"ok"}


def test_threads_pack_and_read_at_once_each_with_its_own_zstd_context() -> None:
    # respq serve reads results on its event loop while its upload pipeline runs in a
    # thread; a zstd context used by two threads at once corrupts its output.
    lines = [line.values[0] for line in provider_lines()]
    contexts: dict[int, int] = {}  # thread -> its compressor

    def work(n: int) -> bool:
        contexts[threading.get_ident()] = id(stored._codec.compressor)
        return all(
            unpack(pack_success(line + b" " * (n % 7))) == line + b" " * (n % 7)
            for line in lines * 50
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(8)))
    assert len(set(contexts.values())) == len(contexts) >= 2

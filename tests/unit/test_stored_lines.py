"""How output lines are kept in Redis (contract/stored.py): successes zstd-packed with a
fixed dictionary (embedding vectors apart, contract/vectors.py), failures as JSON; every
reader gets the worker's exact bytes back, and the Lua that reads lines (retry.lua) tells
a packed success from a failure."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
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
from respq.contract import stored, vectors
from respq.contract.audit import Auditor
from respq.contract.constants import BatchKeys
from respq.contract.errors import StoredLineError
from respq.contract.lines import answer_line, error_line
from respq.contract.response import Usage
from respq.contract.stored import (
    PACKED_V1,
    PACKED_V2,
    PACKED_V2_VECTORS,
    pack_answer,
    pack_success,
    unpack,
)
from respq.worker.results import Result, ResultWriter
from respq.worker.store import WorkerStore

from helpers.factories import embedding_body, response_body

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
# The same for dictionary v2 and its vectors format: a chat completion, and an embeddings
# answer with a float32 vector, a vector of other numbers and a base64 one.
GOLDEN_V2 = bytes.fromhex(
    "0260a400a502009402676f6c64656e2d636861313153746f726564206c696e65732073746179207265616461"
    "626c652e33350c004ab17a304a20073e76901213fa9590d66909499a89e5e2264ca0a9d5456da283c2d9409"
    "94c0001"
)
GOLDEN_V2_LINE = {
    "id": "batch_req_0",
    "custom_id": "golden-chat",
    "response": {
        "status_code": 200,
        "request_id": "req_1",
        "body": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1772294400,
            "model": "gpt-5.4",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Stored lines stay readable.",
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        },
    },
    "error": None,
}
GOLDEN_VECTORS = bytes.fromhex(
    "034503000c0000003f000080be0000003e01030b1e2f02040000003f606f00fd01009831676f6c64656e2d76"
    "6563746f727332326d320d0085a67ae04620574874c1a1873b30b24aac8d597a585394121aa009e3fa9b88"
    "549be8a770de51261340"
)
GOLDEN_VECTORS_LINE = (
    b'{"id":"batch_req_1","custom_id":"golden-vectors","response":{"status_code":200,'
    b'"request_id":"req_2","body":{"object":"list","data":[{"object":"embedding","index":0,'
    b'"embedding":[0.5,-0.25,0.125]},{"object":"embedding","index":1,"embedding":[0.1,2]},'
    b'{"object":"embedding","index":2,"embedding":"AAAAPw=="}],"model":"m","usage":'
    b'{"prompt_tokens":2,"total_tokens":2}}},"error":null}'
)
DICTIONARY_V2_SHA256 = "f342b13875bb6a9449600b744700f669a8e1c2498bfcfa55bff22f63a0626f84"


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


def test_lines_packed_by_the_second_version_still_read() -> None:
    assert orjson.loads(unpack(GOLDEN_V2)) == GOLDEN_V2_LINE
    assert unpack(GOLDEN_VECTORS) == GOLDEN_VECTORS_LINE
    raw = files("respq.contract").joinpath("data/line_dictionary_v2.jsonl").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DICTIONARY_V2_SHA256


@pytest.mark.parametrize("line", provider_lines())
def test_every_providers_answer_comes_back_byte_for_byte(line: bytes) -> None:
    packed = pack_answer(orjson.loads(line))
    assert packed[0] == PACKED_V2
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
        writer.record(batch.id, Result("ok", good, model="gpt-5.4", usage=usage)),
        writer.record(batch.id, Result("bad", bad)),
    )
    await writer.record(batch.id, Result("child-of-ok", failed_child))

    res = await fake_redis.hgetall(BatchKeys(batch.id).res)
    assert res[b"ok"][0] == PACKED_V2 and res[b"bad"][:1] == b"{"
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


def embedding_line(embeddings: list[Any], **body: Any) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(embeddings)]
    answer = {"object": "list", "data": data, "model": "text-embedding-3-small", **body}
    return answer_line("c1", 200, "req_" + "ab" * 16, answer)


def test_an_embedding_of_1536_floats_costs_a_fifth_of_its_json_and_reads_back_exactly() -> None:
    # As OpenAI prints them: float32 values written as the shortest float64 text.
    vector = embedding_body(dims=1536)["data"][0]["embedding"]
    line = embedding_line([vector], usage={"prompt_tokens": 5, "total_tokens": 5})
    raw = orjson.dumps(line)
    packed = pack_answer(line)
    assert packed[0] == PACKED_V2_VECTORS
    assert unpack(packed) == raw
    assert len(packed) <= 0.6 * len(raw)
    assert len(packed) < 0.25 * len(raw)


@pytest.mark.parametrize(
    "vector",
    [
        [round(0.001 * i - 0.7, 6) for i in range(1536)],  # decimals float32 cannot hold
        [1, 2.5, -3, 0.0, -0.0, 1e-07, 1.5e22, 123456789.0],  # ints, signs, exponents
        base64.b64encode(bytes(range(256)) * 24).decode(),  # encoding_format base64
    ],
    ids=["decimals", "mixed-numbers", "base64"],
)
def test_other_vectors_are_kept_apart_too_and_read_back_exactly(vector: Any) -> None:
    line = embedding_line([vector, vector])
    raw = orjson.dumps(line)
    packed = pack_answer(line)
    assert packed[0] == PACKED_V2_VECTORS and unpack(packed) == raw
    assert len(packed) <= 0.8 * len(raw)


@pytest.mark.parametrize(
    "line",
    [
        embedding_line([[0.5, None], "not base64!", [], {"nested": [1.0]}]),  # nothing to take
        embedding_line([[0.5]], note="\x00"),  # the body holds the placeholder itself
        embedding_line([[0.5]], **{"\x00": 1}),
        embedding_line(["AAAAPw"]),  # base64 that is not canonical (no padding)
    ],
)
def test_lines_the_vectors_format_cannot_hold_exactly_are_packed_whole(line: Any) -> None:
    raw = orjson.dumps(line)
    packed = pack_answer(line)
    assert packed[0] == PACKED_V2 and unpack(packed) == raw


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
NUMBERS = st.lists(FLOATS | st.integers(-(2**53), 2**53), min_size=1, max_size=50)
FLOAT32S = st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        NUMBERS
        | FLOAT32S
        | st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
        | st.text(max_size=8),
        max_size=4,
    )
)
def test_any_embedding_answer_round_trips(vectors: list[Any]) -> None:
    line = embedding_line(vectors)
    raw = orjson.dumps(line)
    assert unpack(pack_answer(line)) == raw


def test_a_usual_float32_vector_is_judged_from_its_bytes_and_the_rest_value_by_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[list[Any]] = []
    check = vectors._float32_checked
    monkeypatch.setattr(vectors, "_float32_checked", lambda v: checked.append(v) or check(v))
    usual = embedding_body(dims=1536)["data"][0]["embedding"]
    line = embedding_line([usual])
    assert unpack(pack_answer(line)) == orjson.dumps(line)
    assert checked == []  # the usual vector (zeros in it too) takes no Python step a value
    # float32 values outside the bytewise test's range and ints: checked, exact.
    edges = [[0.5, 2.0**-126, 2.0**-149], [2.0**127, -(2.0**113)], [0.5, 2]]
    for edge in edges:
        line = embedding_line([edge])
        assert unpack(pack_answer(line)) == orjson.dumps(line)
    assert checked == edges
    assert [vectors.pack_vector(edge) for edge in edges[:2]] == [
        (vectors.FLOAT32, struct.pack(f"<{len(edge)}f", *edge)) for edge in edges[:2]
    ]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False)
        | st.floats(width=32, allow_nan=False, allow_infinity=False),
        min_size=1,
    )
)
def test_the_bytewise_float32_test_passes_only_values_float32_holds(values: list[float]) -> None:
    if vectors._plain_float32(values):
        layout = f"<{len(values)}f"
        assert struct.unpack(layout, struct.pack(layout, *values)) == tuple(values)


@pytest.mark.parametrize("cut", [1, 5, 20, -1])
def test_a_corrupt_vectors_line_is_a_clear_error(cut: int) -> None:
    line = embedding_line([[0.5, 0.25], [0.1, 2]])
    packed = pack_answer(line)
    with pytest.raises(StoredLineError, match="corrupt"):
        unpack(packed[:cut])

"""Hostile input: whatever a JSONL line or a Python item holds, validation either accepts it
or raises InvalidInput naming the line/item and the field; nothing else escapes, and a
rejected batch writes nothing to Redis."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respq import BatchClient, ClientSettings, InvalidInput, ResponsesRequest
from respq.producer.validation import ItemPreparer

from helpers.cli import env_for, invoke
from helpers.databases import Database
from helpers.factories import unique_queue

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)


def dumps(value: Any) -> bytes:
    """stdlib JSON (NaN, huge integers) as a hostile file would hold it."""
    return json.dumps(value).encode()


json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
FIELDS = [
    "model",
    "input",
    "temperature",
    "top_p",
    "max_output_tokens",
    "stream",
    "metadata",
    "tools",
    "instructions",
    "previous_response_id",
    "custom_id",
    "body",
    "url",
    "method",
]
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6)
lines = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(dumps),
    bodies.map(dumps),
    st.builds(
        lambda cid, body: dumps({"custom_id": cid, "body": body}),
        json_values,
        bodies,
    ),
)


def check_line(raw: bytes, lineno: int) -> None:
    preparer = ItemPreparer(max_request_bytes=4096)
    result = preparer.add_line(raw, lineno)
    if result is None:
        with pytest.raises(InvalidInput) as caught:
            preparer.raise_if_bad()
        message = str(caught.value)
        assert f"line {lineno}" in message
        assert "nothing was enqueued" in message
        for problem in caught.value.problems:
            assert problem.where == f"line {lineno}"
            assert problem.message
    else:
        preparer.raise_if_bad()
        assert orjson.loads(result.body)["model"] == result.model


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=lines, lineno=st.integers(1, 10_000))
def test_any_line_is_accepted_or_invalid_input(raw: bytes, lineno: int) -> None:
    check_line(raw, lineno)


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b"\xff\xfe\x00garbage", "", "not valid JSON"),
        (b'{"model": "m", "input": "\xed\xa0\x80"}', "", "not valid JSON"),  # lone surrogate
        (b"[1, 2, 3]", "", "expected a JSON object"),
        (b'{"input": "hi"}', "model", ""),
        (b'{"model": 5, "input": "hi"}', "model", ""),
        (b'{"model": "m", "input": "hi", "temperature": 9}', "temperature", ""),
        (b'{"model": "m", "input": "hi", "top_p": -1}', "top_p", ""),
        (b'{"model": "m", "input": "hi", "max_output_tokens": -5}', "max_output_tokens", ""),
        (b'{"model": "m", "input": "hi", "stream": "maybe"}', "stream", ""),
        (b'{"custom_id": "a", "body": {"input": "x"}}', "body.model", ""),
        (b'{"custom_id": 7, "body": {"model": "m"}}', "custom_id", ""),
        (b'{"custom_id": "a", "url": "/v1/chat", "body": {"model": "m"}}', "url", ""),
    ],
)
def test_bad_lines_name_line_and_field(raw: bytes, field: str, words: str) -> None:
    preparer = ItemPreparer()
    assert preparer.add_line(raw, 17) is None
    with pytest.raises(InvalidInput) as caught:
        preparer.raise_if_bad()
    (problem, *_) = caught.value.problems
    assert problem.where == "line 17"
    assert problem.field == field, caught.value
    assert words in problem.message
    assert "line 17" in str(caught.value)


def test_oversized_and_deeply_nested_lines_are_invalid_input() -> None:
    preparer = ItemPreparer(max_request_bytes=2048)
    big = orjson.dumps({"model": "m", "input": "x" * 5000})
    assert preparer.add_line(big, 1) is None
    deep = b'{"model": "m", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert ItemPreparer(max_request_bytes=10**7).add_line(deep, 2) is None
    nested: Any = "x"
    for _ in range(200):
        nested = {"a": nested}
    assert preparer.add_line(orjson.dumps({"model": "m", "input": [nested]}), 3) is None
    with pytest.raises(InvalidInput) as caught:
        preparer.raise_if_bad()
    assert "line 1" in str(caught.value) and "over the limit" in str(caught.value)
    assert "line 3" in str(caught.value)


def test_duplicate_custom_ids_are_named() -> None:
    preparer = ItemPreparer()
    line = b'{"custom_id": "dup", "body": {"model": "m", "input": "x"}}'
    assert preparer.add_line(line, 1) is not None
    assert preparer.add_line(line, 2) is None
    with pytest.raises(InvalidInput) as caught:
        preparer.raise_if_bad()
    assert "line 2 (custom_id 'dup'): field 'custom_id': duplicate" in str(caught.value)


items_strategy = st.lists(
    st.one_of(
        bodies,
        json_values,
        st.fixed_dictionaries({"model": st.just("gpt-5.4"), "input": st.text(max_size=30)}),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=items_strategy)
def test_python_submit_of_bad_items_enqueues_nothing(batch: list[Any]) -> None:
    async def go() -> None:
        redis = FakeRedis(server=FakeServer())
        client = BatchClient(redis, ClientSettings(queue_name="q", max_request_bytes=4096))
        try:
            problem: InvalidInput | None = None
            try:
                submitted = await client.submit(batch)
            except InvalidInput as exc:
                problem = exc
            if problem is not None:
                assert await redis.dbsize() == 0
                assert all(p.where.startswith("item ") for p in problem.problems)
                assert "nothing was enqueued" in str(problem)
            else:
                info = await submitted.status()
                assert info.request_counts.total == len(batch)
        finally:
            await client.close()

    asyncio.run(go())


async def test_submit_over_max_request_bytes_enqueues_nothing() -> None:
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q", max_request_bytes=2048))
    try:
        with pytest.raises(InvalidInput) as caught:
            await client.submit(
                [{"model": "m", "input": "ok"}, {"model": "m", "input": "y" * 10_000}]
            )
        assert "item 1" in str(caught.value) and "body" in str(caught.value)
        assert await redis.dbsize() == 0
    finally:
        await client.close()


def nested(depth: int, leaf: Any = "x") -> Any:
    """``depth`` lists around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# orjson reads 1024 levels but writes only 254: everything between used to pass the read
# and crash the re-encoding with "TypeError: Recursion limit reached".
DEPTHS = [200, 254, 255, 256, 300, 1000, 1023, 1024, 1025, 5000, 100_000]


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_nesting_in_a_passed_through_field_names_line_and_field(depth: int) -> None:
    preparer = ItemPreparer()
    bare = b'{"model": "m", "input": "x", "extra": ' + deep_json(depth) + b"}"
    line = b'{"custom_id": "c", "body": {"model": "m", "extra": ' + deep_json(depth) + b"}}"
    results = [preparer.add_line(bare, 7), preparer.add_line(line, 8)]
    if depth < 254:
        assert None not in results
        return
    assert results == [None, None]
    with pytest.raises(InvalidInput) as caught:
        preparer.raise_if_bad()
    first, second = caught.value.problems
    assert first.where == "line 7" and second.where == "line 8"
    for problem, field in ((first, "extra"), (second, "body.extra")):
        if problem.field:
            assert problem.field == field
            assert "nested" in problem.message and "254 levels" in problem.message
        else:  # deeper than orjson reads (1024 levels in all): the line is not JSON
            assert depth >= 1022 and "not valid JSON" in problem.message
    if depth <= 1000:
        assert (first.field, second.field) == ("extra", "body.extra")


@pytest.mark.parametrize("depth", [255, 300, 1000, 100_000])
async def test_python_submit_of_deeply_nested_items_enqueues_nothing(depth: int) -> None:
    redis = FakeRedis(server=FakeServer())
    client = BatchClient(redis, ClientSettings(queue_name="q"))
    deep = nested(depth)
    try:
        for item in (
            {"model": "m", "input": "x", "extra": deep},
            {"model": "m", "input": "x", "metadata": {"k": deep}},
            {"custom_id": "a", "body": {"model": "m", "tools": [{"t": deep}]}},
            ResponsesRequest(model="m", input="x", extra=deep),
        ):
            with pytest.raises(InvalidInput) as caught:
                await client.submit([{"model": "m", "input": "fine"}, item])
            (problem,) = caught.value.problems
            assert problem.where == "item 1"
            assert "nested" in problem.message, problem
            assert problem.field in ("extra", "metadata", "body.tools"), problem
        assert await redis.dbsize() == 0
    finally:
        await client.close()


@pytest.mark.integration
def test_cli_submit_of_deeply_nested_lines_exits_2_naming_file_and_lines(
    tmp_path: Path, db: Database
) -> None:
    path = tmp_path / "deep.jsonl"
    lines = [b'{"model": "m", "input": "fine"}']
    lines += [b'{"model": "m", "input": "x", "extra": ' + deep_json(d) + b"}" for d in DEPTHS]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = invoke(["submit", str(path)], env=env_for(db, unique_queue()))
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "Traceback" not in err
    assert f"invalid line(s) in {path}" in err
    for lineno, depth in enumerate(DEPTHS, start=2):
        if depth >= 254:
            assert re.search(rf"^  line {lineno}[ :]", err, re.MULTILINE)
    assert "line 3 (custom_id 'line-3'): field 'extra': nested more than 254 levels deep" in err
    assert db.redis.dbsize() == 0

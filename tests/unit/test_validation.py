"""Input lines and Python items: every bad item named, duplicates caught."""

from __future__ import annotations

import orjson
import pytest

from respq import InputLine, InvalidInput, ResponsesRequest
from respq.producer.validation import ItemPreparer, prepare_items


def test_three_item_kinds_and_batch_lines() -> None:
    prepared = prepare_items(
        [
            ResponsesRequest(model="gpt-5.4", input="a"),
            {"model": "gpt-5.4", "input": "b"},
            {"custom_id": "c", "method": "POST", "url": "/v1/responses", "body": {"model": "m"}},
            {"custom_id": "d", "url": "/responses", "body": {"model": "m"}},
            {"custom_id": "e", "url": "/api/v1/responses", "body": {"model": "m"}},
            InputLine(custom_id="f", body={"model": "m", "input": "x"}),
        ]
    )
    assert [p.custom_id for p in prepared] == ["line-1", "line-2", "c", "d", "e", "f"]
    assert orjson.loads(prepared[1].body) == {"model": "gpt-5.4", "input": "b"}
    assert prepared[2].model == "m"


def test_one_error_names_every_bad_item() -> None:
    with pytest.raises(InvalidInput) as info:
        prepare_items(
            [
                {"model": "ok", "input": "fine"},
                {"input": "no model"},
                {"custom_id": "t", "body": {"model": "m", "temperature": 3}},
                {"custom_id": "u", "url": "/v1/chat/completions", "body": {"model": "m"}},
                {"custom_id": "t", "body": {"model": "m"}},
                "not a dict",
            ]
        )
    err = info.value
    assert err.total_bad == 5
    text = str(err)
    assert "item 1" in text and "'model'" in text
    assert "item 2 (custom_id 't')" in text and "body.temperature" in text
    assert "item 3 (custom_id 'u')" in text and "'url'" in text
    assert "item 4 (custom_id 't')" in text and "duplicate" in text
    assert "item 5" in text and "JSON object" in text


def test_jsonl_lines_report_line_numbers() -> None:
    preparer = ItemPreparer(max_request_bytes=2000)
    assert preparer.add_line(b'{"model": "m", "input": "x"}', 1) is not None
    assert preparer.add_line(b"{not json", 2) is None
    assert preparer.add_line(b'{"custom_id": "a", "body": {"model": 5}}', 3) is None
    assert preparer.add_line(b'{"model": "m", "input": "' + b"x" * 3000 + b'"}', 4) is None
    assert preparer.add_line(b"[1, 2]", 5) is None
    wheres = [(p.where, p.custom_id, p.field) for p in preparer.problems]
    assert wheres == [
        ("line 2", None, ""),
        ("line 3", "a", "body.model"),
        ("line 4", None, ""),
        ("line 5", None, ""),
    ]
    with pytest.raises(InvalidInput, match="4 invalid"):
        preparer.raise_if_bad()


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep = b'{"model": "m", "input": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    preparer = ItemPreparer()
    assert preparer.add_line(deep, 1) is None
    assert "JSON" in preparer.problems[0].message


def test_many_bad_items_are_counted_but_only_some_shown() -> None:
    with pytest.raises(InvalidInput) as info:
        prepare_items([{"input": "x"}] * 50)
    assert info.value.total_bad == 50
    assert "and 30 more" in str(info.value)

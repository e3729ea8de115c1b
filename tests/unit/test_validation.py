"""Input lines and Python items: every bad item named, duplicates caught."""

from __future__ import annotations

import orjson
import pytest

from respq import ChatCompletionRequest, InputLine, InvalidInput, ResponsesRequest
from respq.contract.endpoints import CHAT_COMPLETIONS, EMBEDDINGS, MODERATIONS, RESPONSES
from respq.producer.validation import ItemPreparer, prepare_batch, prepare_items


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


def line(cid: str, url: str, body: dict[str, object]) -> dict[str, object]:
    return {"custom_id": cid, "method": "POST", "url": url, "body": body}


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_the_batch_endpoint_comes_from_the_first_item_and_bodies_follow_it() -> None:
    endpoint, prepared = prepare_batch(
        [
            line("a", "/chat/completions", CHAT),
            CHAT,  # a bare body of the batch's endpoint
            ChatCompletionRequest.model_validate(CHAT),
        ]
    )
    assert endpoint is CHAT_COMPLETIONS
    assert [p.custom_id for p in prepared] == ["a", "line-2", "line-3"]
    endpoint, prepared = prepare_batch([{"model": "e", "input": ["x", "y"]}], endpoint=EMBEDDINGS)
    assert endpoint is EMBEDDINGS and prepared[0].model == "e"
    endpoint, prepared = prepare_batch([line("m", "/v1/moderations", {"input": "x"})])
    assert endpoint is MODERATIONS and prepared[0].model == ""
    assert prepare_batch([{"model": "m", "input": "x"}])[0] is RESPONSES


def test_a_mixed_batch_names_the_first_item_that_differs_and_counts_the_rest() -> None:
    preparer = ItemPreparer()
    preparer.add_line(orjson.dumps(line("a", "/v1/embeddings", {"model": "e", "input": "x"})), 1)
    preparer.add_line(orjson.dumps(line("b", "/v1/embeddings", {"model": "e", "input": "y"})), 2)
    for n in (3, 4, 5):
        preparer.add_line(orjson.dumps(line(f"c{n}", "/v1/chat/completions", CHAT)), n)
    with pytest.raises(InvalidInput) as info:
        preparer.raise_if_bad()
    assert info.value.total_bad == 3
    [first] = info.value.problems
    assert (first.where, first.custom_id, first.field) == ("line 3", "c3", "url")
    assert "/v1/chat/completions" in first.message and "line 1 is /v1/embeddings" in first.message


def test_a_batch_that_must_have_an_endpoint_names_every_line_of_another() -> None:
    preparer = ItemPreparer(endpoint=CHAT_COMPLETIONS)
    preparer.add_line(orjson.dumps(line("a", "/v1/responses", {"model": "m", "input": "x"})), 1)
    preparer.add_line(orjson.dumps(line("b", "/v1/chat/completions", CHAT)), 2)
    preparer.add_line(orjson.dumps(line("c", "/v1/completions", {"model": "m", "prompt": "p"})), 3)
    assert [(p.where, p.code) for p in preparer.problems] == [
        ("line 1", "url_mismatch"),
        ("line 3", "url_mismatch"),
    ]


def test_bodies_are_checked_by_their_endpoint_and_only_responses_chain() -> None:
    with pytest.raises(InvalidInput) as info:
        prepare_batch(
            [
                line("a", "/v1/chat/completions", {"model": "m", "input": "not chat"}),
                line("b", "/v1/chat/completions", {**CHAT, "n": 0}),
                {"custom_id": "c", "url": "/v1/chat/completions", "depends_on": "a", "body": CHAT},
            ]
        )
    fields = [(p.custom_id, p.field) for p in info.value.problems]
    assert fields == [("a", "body.messages"), ("b", "body.n"), ("c", "depends_on")]
    with pytest.raises(InvalidInput, match="no longer takes /v1/videos; use one of /v1/responses"):
        prepare_batch([line("v", "/v1/videos", {"model": "m"})])
    with pytest.raises(InvalidInput, match="'/v1/audio' is not supported; use one of /v1/resp"):
        prepare_batch([line("v", "/v1/audio", {"model": "m"})])

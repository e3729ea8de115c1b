"""mockapi over real HTTP (127.0.0.1 only): response shapes and usage, errors, streaming,
models and request ids, stats and stored responses, the command line. Its rate limits and
injected failures: test_mockapi_failures.py."""

from __future__ import annotations

import hmac
import math
from typing import Any

import httpx
import orjson
import pytest

from respq.mockapi import MockConfig, MockServer
from respq.mockapi import app as mockapi_app
from respq.mockapi.app import MockApp
from respq.mockapi.cli import config_from
from respq.mockapi.config import DEFAULT_MODELS

from helpers.mockapi import STREAM_ORDER, STREAM_TAIL, create, sse_events

# -- plain responses ---------------------------------------------------------------------


def test_plain_response_shape(client: httpx.Client) -> None:
    r = create(client, input="Write a caption.", temperature=0.7, metadata={"custom_id": "a"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["id"].startswith("resp_")
    assert len(body["id"]) == 5 + 24
    int(body["id"][5:], 16)
    assert body["object"] == "response"
    assert isinstance(body["created_at"], int)
    assert body["status"] == "completed"
    assert body["model"] == "gpt-5.4"
    assert body["error"] is None
    assert body["incomplete_details"] is None
    assert body["temperature"] == 0.7
    assert body["metadata"] == {"custom_id": "a"}
    [message] = body["output"]
    assert message["id"].startswith("msg_")
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["status"] == "completed"
    [part] = message["content"]
    assert part == {"type": "output_text", "text": body["output_text"], "annotations": []}
    usage = body["usage"]
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens"] == math.ceil(len(body["output_text"]) / 4)


@pytest.mark.parametrize("path", ["/v1/responses", "/api/v1/responses", "/responses"])
def test_response_paths(srv: MockServer, path: str) -> None:
    r = httpx.post(srv.url + path, json={"model": "o4-mini", "input": "x"})
    assert r.status_code == 200
    assert r.json()["model"] == "o4-mini"


def test_deterministic_text(client: httpx.Client) -> None:
    a = create(client, input="same input").json()
    b = create(client, input="same input").json()
    c = create(client, input="other input").json()
    assert a["output_text"] == b["output_text"] != c["output_text"]
    assert a["id"] != b["id"]


def test_usage_counts_instructions_images_files(client: httpx.Client) -> None:
    instructions = "Be brief."  # 9 chars
    body = create(
        client,
        instructions=instructions,
        input=[
            {"role": "system", "content": "abcd" * 3},  # 12 chars
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "x" * 7},
                    {"type": "input_image", "image_url": "https://example.com/a.jpg"},
                    {"type": "input_file", "file_url": "https://example.com/a.pdf"},
                ],
            },
        ],
    ).json()
    assert body["usage"]["input_tokens"] == math.ceil((9 + 12 + 7) / 4) + 85 + 200
    assert body["instructions"] == instructions


def test_max_output_tokens_incomplete(client: httpx.Client) -> None:
    body = create(client, input="a long enough input " * 5, max_output_tokens=3).json()
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["usage"]["output_tokens"] <= 3
    assert len(body["output_text"]) == 12
    assert body["output"][0]["status"] == "incomplete"
    assert body["max_output_tokens"] == 3
    roomy = create(client, input="hi", max_output_tokens=500).json()
    assert roomy["status"] == "completed"


def test_json_schema_output(client: httpx.Client) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "owner": {"type": "string"},
            "count": {"type": "integer"},
            "score": {"type": "number"},
            "done": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object", "properties": {"k": {"type": "string"}}},
        },
        "required": ["owner", "count", "score", "done", "tags", "extra"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "task", "strict": True, "schema": schema}
    body = create(client, input="Maya sends the brief", text={"format": fmt}).json()
    value = orjson.loads(body["output_text"])
    assert set(value) == set(schema["required"])
    assert isinstance(value["owner"], str)
    assert isinstance(value["count"], int)
    assert isinstance(value["score"], float)
    assert value["done"] is True
    assert isinstance(value["tags"], list)
    assert isinstance(value["tags"][0], str)
    assert isinstance(value["extra"]["k"], str)
    assert body["text"]["format"]["name"] == "task"
    obj = create(client, text={"format": {"type": "json_object"}}).json()
    assert isinstance(orjson.loads(obj["output_text"]), dict)


# -- errors ------------------------------------------------------------------------------


def test_model_not_found(client: httpx.Client) -> None:
    r = client.post("/responses", json={"model": "gpt-9", "input": "x"})
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b"not json", None),
        (b"[1, 2]", None),
        (b'{"input": "x"}', "model"),
        (b'{"model": ""}', "model"),
        (orjson.dumps({"model": "m" * 129}), "model"),
        (b'{"model": "gpt-5.4", "temperature": 2.5}', "temperature"),
        (b'{"model": "gpt-5.4", "temperature": "hot"}', "temperature"),
        (b'{"model": "gpt-5.4", "top_p": 1.5}', "top_p"),
        (b'{"model": "gpt-5.4", "max_output_tokens": 0}', "max_output_tokens"),
    ],
)
def test_validation_400(client: httpx.Client, content: bytes, param: str | None) -> None:
    r = client.post("/responses", content=content)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


def test_auth() -> None:
    with MockServer(MockConfig(api_key="sk-secret")) as srv:
        body = {"model": "gpt-5.4", "input": "x"}
        url = srv.base_url + "/responses"
        missing = httpx.post(url, json=body)
        assert missing.status_code == 401
        assert missing.json() == {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        bearer = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-secret"})
        assert bearer.status_code == 200
        x_key = httpx.post(url, json=body, headers={"X-API-KEY": "sk-secret"})
        assert x_key.status_code == 200
        assert httpx.get(srv.base_url + "/models").status_code == 401
        stats = srv.stats()
        assert stats["auth_failures"] == 3
        assert stats["by_status"] == {"200": 2, "401": 2}


# -- streaming ---------------------------------------------------------------------------


def test_stream_event_order(client: httpx.Client) -> None:
    r = create(client, input="stream me please", stream=True)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    n_deltas = kinds.count("response.output_text.delta")
    assert n_deltas >= 3
    assert kinds == [*STREAM_ORDER, *["response.output_text.delta"] * n_deltas, *STREAM_TAIL]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert all(d["type"] == k for k, d in events)
    assert events[1][1]["response"]["status"] == "in_progress"
    final = events[-1][1]["response"]
    text = "".join(d["delta"] for k, d in events if k == "response.output_text.delta")
    assert final["output_text"] == text
    assert final["status"] == "completed"
    assert final["usage"]["output_tokens"] == math.ceil(len(text) / 4)
    assert final["output"][0]["content"][0]["text"] == text
    # the streamed response is stored like a plain one
    assert client.get(f"/responses/{final['id']}").json() == final


def test_stream_incomplete_and_paced(srv: MockServer, client: httpx.Client) -> None:
    r = create(client, input="x" * 100, stream=True, max_output_tokens=2)
    events = sse_events(r.text)
    assert events[-1][0] == "response.incomplete"
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    srv.control(tokens_per_second=2000)
    try:
        with client.stream("POST", "/responses", json={"model": "gpt-5.4", "stream": True}) as s:
            body = b"".join(s.iter_bytes())
    finally:
        srv.control(tokens_per_second=0)
    assert sse_events(body.decode())[-1][0] == "response.completed"


# -- models, request ids -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", "/api/v1/models", "/models"])
def test_models(srv: MockServer, path: str) -> None:
    body = httpx.get(srv.url + path).json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == list(DEFAULT_MODELS)
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model"
        assert model["owned_by"] == "mockapi"


def test_control_endpoints_need_the_key_when_one_is_set() -> None:
    with MockServer(MockConfig(api_key="sk-secret")) as srv:
        calls = [
            ("GET", "/_stats", None),
            ("POST", "/_reset", None),
            ("GET", "/_control", None),
            ("POST", "/_control", {"fail_rate": 1.0}),
        ]
        for method, path, body in calls:
            for headers in (
                {},
                {"Authorization": "Bearer nope"},
                {"Authorization": "Bearer sk-secre"},  # a prefix of the key
                {"Authorization": "sk-secret"},  # no scheme
                {"X-API-KEY": "sk-secretX"},
            ):
                answer = httpx.request(method, srv.url + path, json=body, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.json()["error"]["code"] == "invalid_api_key"
        assert srv.app.settings.fail_rate == 0.0  # the refused /_control changed nothing
        for headers in ({"Authorization": "Bearer sk-secret"}, {"x-api-key": "sk-secret"}):
            for method, path, body in calls[:3]:
                answer = httpx.request(method, srv.url + path, json=body, headers=headers)
                assert answer.status_code == 200, (method, path, headers)
        assert httpx.get(srv.url + "/health").status_code == 200  # probes need no key
    with MockServer(MockConfig()) as open_srv:  # no key set: open as before
        assert httpx.get(open_srv.url + "/_stats").status_code == 200


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(mockapi_app.hmac, "compare_digest", spy)
    app = MockApp(MockConfig(api_key="sk-secret"))
    for header, value, allowed in (
        (b"authorization", b"Bearer sk-secret", True),
        (b"authorization", b"bearer sk-secret", True),
        (b"authorization", b"Bearer sk-nope", False),
        (b"x-api-key", b"sk-secret", True),
        (b"x-api-key", b"sk-secre", False),
    ):
        compared.clear()
        assert app._authorized({"headers": [(header, value)]}) is allowed
        assert compared, (header, value)
        assert all(b"sk-secret" in pair for pair in compared)


def test_request_id_on_every_response(srv: MockServer) -> None:
    answers = [
        httpx.post(srv.base_url + "/responses", json={"model": "gpt-5.4", "input": "x"}),
        httpx.post(srv.base_url + "/responses", content=b"{"),
        httpx.post(srv.base_url + "/responses", json={"model": "nope"}),
        httpx.get(srv.base_url + "/responses/resp_missing"),
        httpx.get(srv.base_url + "/models"),
        httpx.get(srv.url + "/_stats"),
        httpx.get(srv.url + "/nowhere"),
        httpx.delete(srv.base_url + "/responses"),
    ]
    ids = {r.headers["x-request-id"] for r in answers}
    assert len(ids) == len(answers)
    assert all(i.startswith("req_") for i in ids)
    assert [r.status_code for r in answers] == [200, 400, 404, 404, 200, 200, 404, 405]


# -- stats and stored responses ----------------------------------------------------------


def test_stats_counts_and_log(srv: MockServer, client: httpx.Client) -> None:
    for i in range(3):
        create(client, metadata={"custom_id": f"c{i}"})
    create(client, model="missing")
    stats = httpx.get(srv.url + "/_stats").json()
    assert stats["requests"] == 4
    assert stats["by_status"] == {"200": 3, "404": 1}
    assert stats["max_requests_in_window"] == 3
    assert stats["in_flight"] == 0
    assert stats["max_in_flight"] >= 1
    assert stats["rate_limited"] == 0
    assert stats["auth_failures"] == 0
    log = stats["request_log"]
    assert [e["metadata"] for e in log[:3]] == [{"custom_id": f"c{i}"} for i in range(3)]
    assert log[0]["status"] == 200
    assert log[0]["model"] == "gpt-5.4"
    assert log[0]["request_id"].startswith("req_")
    assert log[3]["status"] == 404
    assert httpx.post(srv.url + "/_reset").json() == {"ok": True}
    cleared = srv.stats()
    assert cleared["requests"] == 0
    assert cleared["request_log"] == []


def test_stored_responses_and_previous_id(srv: MockServer, client: httpx.Client) -> None:
    parent = create(client, input="Three names please.").json()
    got = client.get(f"/responses/{parent['id']}")
    assert got.status_code == 200
    assert got.json() == parent
    child = create(client, input="More playful.", previous_response_id=parent["id"]).json()
    assert child["previous_response_id"] == parent["id"]
    assert srv.stats()["request_log"][-1]["previous_response_id"] == parent["id"]
    missing = create(client, previous_response_id="resp_unknown")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "previous_response_not_found"
    assert missing.json()["error"]["param"] == "previous_response_id"
    unstored = create(client, store=False).json()
    assert unstored["store"] is False
    assert client.get(f"/responses/{unstored['id']}").status_code == 404
    assert len(srv.app.store) == 2


# -- command line ------------------------------------------------------------------------


def test_cli_flags_and_env() -> None:
    env = {"MOCKAPI_LATENCY": "0.2", "MOCKAPI_RPM": "10", "MOCKAPI_MODELS": "a,b"}
    config, level = config_from(["--rpm", "20", "--fail-mix", "500,reset"], env)
    assert config.latency == 0.2
    assert config.rpm == 20
    assert config.models == ("a", "b")
    assert config.fail_mix == "500,reset"
    assert level == "warning"
    assert config.port == 8400
    assert config.api_key is None
    with pytest.raises(SystemExit):
        config_from(["--fail-mix", "kaboom"], {})

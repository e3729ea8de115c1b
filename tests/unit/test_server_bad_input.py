"""Bad input to ``respq serve`` gets OpenAI's 4xx error body, never a 500, never a path:
fuzzed query parameters and bodies, OpenAI's limits on batch metadata and windows, bodies
bounded before they are parsed (declared or streamed), and a full files directory."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from fakeredis.aioredis import FakeRedis
from redis.exceptions import ConnectionError, OutOfMemoryError, ReadOnlyError

from respq.contract.constants import FILES_KEY
from respq.server.body_limits import BATCH_CREATE_BODY_BYTES, LOGIN_BODY_BYTES, UPLOAD_FRAMING_BYTES

from helpers.asgi import KEY, api_client, app_on
from helpers.factories import request_line

MAX_UPLOAD = 64 * 1024
BATCH = {"input_file_id": "file-0", "endpoint": "/v1/responses", "completion_window": "24h"}


@pytest.fixture
async def api(fake_redis: FakeRedis, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = app_on(fake_redis, tmp_path / "files", max_upload_bytes=MAX_UPLOAD)
    async with api_client(app) as client:
        yield client


@pytest.fixture
async def sdk(api: httpx.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url="http://respq.test/v1", api_key=KEY, http_client=api, max_retries=0
    )


def openai_error(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, response.text
    return dict(error)


def create(**changes: Any) -> bytes:
    return orjson.dumps({**BATCH, **changes})


def upload_body(content: bytes, boundary: str = "b0und") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
        f"Content-Type: application/jsonl\r\n\r\n"
    ).encode() + content


MULTIPART = {"content-type": "multipart/form-data; boundary=b0und"}
FUZZ: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("GET", "/v1/batches?limit=abc", None, {}),
    ("GET", "/v1/batches?limit=1e3", None, {}),
    ("GET", "/v1/batches?limit=-1", None, {}),
    ("GET", "/v1/batches?limit=" + "9" * 5000, None, {}),
    ("GET", "/v1/batches?limit=100000000000000000000", None, {}),
    ("GET", "/v1/batches?after=batch_nope", None, {}),
    ("GET", "/v1/batches?after=%00%ff", None, {}),
    ("GET", "/v1/batches?after=" + "x" * 10000, None, {}),
    ("GET", "/v1/files?limit=abc", None, {}),
    ("GET", "/v1/files?limit=99999999", None, {}),
    ("GET", "/v1/files?order=sideways", None, {}),
    ("GET", "/v1/files?after=file-nope&order=asc", None, {}),
    ("GET", "/v1/files/file-nope/content", None, {}),
    ("GET", "/v1/files/file-out-/content", None, {}),
    ("GET", "/v1/files/file-out-batch_nope/content", None, {}),
    ("DELETE", "/v1/files/file-err-batch_nope", None, {}),
    ("POST", "/v1/batches/batch_nope/cancel", None, {}),
    ("POST", "/v1/batches", b"", {}),
    ("POST", "/v1/batches", b"{", {}),
    ("POST", "/v1/batches", b"\xff\xfe{}", {}),
    ("POST", "/v1/batches", b"[]", {}),
    ("POST", "/v1/batches", b"null", {}),
    ("POST", "/v1/batches", b"[" * 5000 + b"]" * 5000, {}),
    ("POST", "/v1/batches", b'{"input_file_id": 123456789012345678901234567890}', {}),
    ("POST", "/v1/batches", create(input_file_id=5), {}),
    ("POST", "/v1/batches", create(endpoint=["/v1/responses"]), {}),
    ("POST", "/v1/batches", create(completion_window="inf"), {}),
    ("POST", "/v1/batches", create(completion_window="-inf"), {}),
    ("POST", "/v1/batches", create(completion_window="nan"), {}),
    ("POST", "/v1/batches", create(completion_window="1e400"), {}),
    ("POST", "/v1/batches", create(completion_window=24), {}),
    ("POST", "/v1/batches", create(completion_window=None), {}),
    ("POST", "/v1/batches", create(metadata="team"), {}),
    ("POST", "/v1/batches", create(metadata={"n": 1}), {}),
    ("POST", "/v1/batches", create(metadata={"nested": {"a": "b"}}), {}),
    ("POST", "/v1/files", b"", {}),
    ("POST", "/v1/files", b"purpose=batch", {"content-type": "text/plain"}),
    ("POST", "/v1/files", b"x", {"content-type": "multipart/form-data"}),
    ("POST", "/v1/files", b"x", {"content-type": "multipart/form-data; boundary=" + "b" * 300}),
    ("POST", "/v1/files", b"garbage" * 100, MULTIPART),
    ("POST", "/v1/files", upload_body(b"{}\n"), MULTIPART),
    ("POST", "/v1/files", upload_body(b"{}\n") + b"\r\n--b0und--\r\n", {"content-type": "x/y"}),
]


async def test_bad_input_is_an_openai_4xx_never_a_500_nor_a_path(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    wrong: list[tuple[str, str, int, str]] = []
    for method, url, body, headers in FUZZ:
        response = await api.request(method, url, content=body, headers=headers)
        text = response.text
        try:
            assert 400 <= response.status_code < 500
            assert openai_error(response)["type"] == "invalid_request_error"
            assert str(tmp_path) not in text and "Traceback" not in text
        except (AssertionError, ValueError):
            wrong.append((method, url[:60], response.status_code, text[:200]))
    assert wrong == []
    assert not list((tmp_path / "files").glob("*"))


@pytest.mark.parametrize("window", ["inf", "0", "1", "90m", "1000d"])
async def test_completion_window_outside_the_rule_is_invalid_value_with_param(
    sdk: openai.AsyncOpenAI, window: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.batches.create(
            input_file_id="file-0",
            endpoint="/v1/responses",
            completion_window=window,  # type: ignore[arg-type]
        )
    assert caught.value.status_code == 400
    assert (caught.value.code, caught.value.param) == ("invalid_value", "completion_window")
    # The connection is still good for the next call.
    assert (await sdk.batches.list()).data == []


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({f"k{i}": "v" for i in range(17)}, "invalid_value"),
        ({"k" * 65: "v"}, "invalid_value"),
        ({"team": "v" * 513}, "invalid_value"),
        ({"team": 7}, "invalid_type"),
    ],
)
async def test_metadata_over_openais_limits_is_refused(
    sdk: openai.AsyncOpenAI, metadata: dict[str, Any], code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.batches.create(**BATCH, metadata=metadata)
    assert (caught.value.code, caught.value.param) == (code, "metadata")
    # At the limits (16 pairs of 64 + 512 characters, each character a 12-byte JSON escape
    # pair) the request goes on to the input file's lookup.
    emoji = "\U0001f600"
    at_limits = {emoji * 63 + f"{i:x}": emoji * 512 for i in range(16)}
    assert len(json.dumps({**BATCH, "metadata": at_limits})) < BATCH_CREATE_BODY_BYTES
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.batches.create(**BATCH, metadata=at_limits)
    assert missing.value.param == "input_file_id"


class Source:
    """A request body streamed in chunks (no Content-Length): ``prefix``, then ``chunk``
    until ``total`` bytes; counts what the server read."""

    def __init__(self, prefix: bytes, chunk: bytes, total: int) -> None:
        self.prefix, self.chunk, self.total, self.read = prefix, chunk, total, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.read = len(self.prefix)
        yield self.prefix
        while self.read < self.total:
            self.read += len(self.chunk)
            yield self.chunk


def endless(url: str) -> Source | None:
    """What a route would read without a cap: a form, a JSON body, and an upload followed
    by an endless epilogue (which the multipart parser discards, so only the cap stops
    it). None for a route that never reads its body."""
    if url == "/login":
        return Source(b"key=", b"k" * 1024, 10**9)
    if url == "/v1/batches":
        return Source(b"{", b" " * 1024, 10**9)
    if url == "/v1/files":
        return Source(upload_body(b"{}\n") + b"\r\n--b0und--\r\n", b"x" * 1024, 10**10)
    return None


@pytest.mark.parametrize(
    ("url", "cap", "headers"),
    [
        ("/login", LOGIN_BODY_BYTES, {"content-type": "application/x-www-form-urlencoded"}),
        ("/v1/batches", BATCH_CREATE_BODY_BYTES, {"content-type": "application/json"}),
        ("/v1/files", MAX_UPLOAD + UPLOAD_FRAMING_BYTES, MULTIPART),
        ("/v1/batches/batch_x/cancel", 8 * 1024, {}),
    ],
)
async def test_bodies_over_their_cap_are_413_before_parsing_declared_or_streamed(
    api: httpx.AsyncClient,
    fake_redis: FakeRedis,
    tmp_path: Path,
    url: str,
    cap: int,
    headers: dict[str, str],
) -> None:
    at_cap = await api.post(url, content=b"x" * cap, headers=headers)
    assert at_cap.status_code in (400, 401, 404), at_cap.text[:300]  # handled, not refused
    declared = await api.post(url, content=b"x" * (cap + 1), headers=headers)
    assert declared.status_code == 413, declared.text[:300]
    assert openai_error(declared)["code"] == "request_too_large"
    assert declared.headers["connection"] == "close"

    body = endless(url)
    if body is None:
        return
    streamed = await api.post(url, content=body, headers=headers)
    assert streamed.status_code == 413, streamed.text[:300]
    assert openai_error(streamed)["code"] == "request_too_large"
    assert body.read <= cap + len(body.prefix) + 1024  # stopped at the cap, not at the end
    assert not list((tmp_path / "files").glob("*"))
    assert await fake_redis.zcard(FILES_KEY) == 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_a_full_files_directory_is_a_507_in_openais_shape(
    sdk: openai.AsyncOpenAI, fake_redis: FakeRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("respq.server.files.new_file_id", lambda: "file-full")
    (tmp_path / "files" / "file-full.part").symlink_to("/dev/full")  # writes: ENOSPC
    content = b"".join(request_line(i) + b"\n" for i in range(100))
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk.files.create(file=("in.jsonl", content), purpose="batch")
    assert caught.value.status_code == 507
    body: Any = caught.value.body
    assert body["type"] == "server_error" and body["code"] == "insufficient_storage"
    assert "RESPQ_FILES_DIR" in body["message"] and str(tmp_path) not in body["message"]
    assert not list((tmp_path / "files").glob("*")) and os.path.exists("/dev/full")
    assert await fake_redis.zcard(FILES_KEY) == 0


async def test_a_bug_is_openais_500_body_not_a_traceback(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("/srv/secret/path went wrong")

    monkeypatch.setattr("respq.server.batches.BatchService.list", broken)
    response = await api.get("/v1/batches")
    assert response.status_code == 500
    error = openai_error(response)
    assert error["type"] == "server_error"
    assert "/srv/secret" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'."), "oom"),
        (ReadOnlyError("You can't write against a read only replica."), "read_only"),
        (ConnectionError("Connection refused"), "unavailable"),
    ],
)
async def test_a_redis_that_refuses_is_a_503_naming_the_cause_not_a_500(
    api: httpx.AsyncClient,
    fake_redis: FakeRedis,
    monkeypatch: pytest.MonkeyPatch,
    refusal: Exception,
    code: str,
) -> None:
    async def refuse(*_: object, **__: object) -> None:
        raise refusal

    monkeypatch.setattr(fake_redis, "zrevrange", refuse)
    response = await api.get("/v1/batches")
    assert response.status_code == 503, response.text
    error = openai_error(response)
    assert error["code"] == f"redis_{code}"
    assert "redis://" not in error["message"] and "try again" in error["message"]

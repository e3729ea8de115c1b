"""A real ``respq serve`` against requests a broken client, a proxy that cuts bodies or an
attacker sends: cut-short uploads store nothing, oversized bodies are refused before the
server holds them, bad windows and metadata are OpenAI's 4xx errors on a connection that
stays usable, and no error carries the server's paths."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from respq.contract.constants import FILES_KEY

from helpers.factories import request_line
from helpers.polling import wait_until
from helpers.server import API_KEY, Stack, sdk

pytestmark = pytest.mark.integration

CONTENT = b"".join(request_line(i) + b"\n" for i in range(3))
FORM_HEAD = (
    b'--b0und\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
    b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
    b"Content-Type: application/jsonl\r\n\r\n"
)
CLOSING = b"\r\n--b0und--\r\n"


@pytest.fixture
def client(stack: Stack) -> openai.OpenAI:
    return sdk(stack)


def connect(stack: Stack) -> socket.socket:
    host, port = stack.root.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def head(path: str, *lines: str) -> bytes:
    fields = [f"POST {path} HTTP/1.1", "Host: respq", f"Authorization: Bearer {API_KEY}"]
    return ("\r\n".join([*fields, *lines, "Connection: close"]) + "\r\n\r\n").encode()


def answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the one response on ``sock`` (closed by the server)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), orjson.loads(body)


def post_raw(stack: Stack, data: bytes) -> tuple[int, dict[str, Any]]:
    with connect(stack) as sock:
        sock.sendall(data)
        return answer(sock)


def stored(stack: Stack) -> tuple[int, list[str]]:
    """What uploads have left: file records in Redis, and files on disk."""
    return stack.db.redis.zcard(FILES_KEY), sorted(p.name for p in stack.files_dir.iterdir())


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"


@pytest.mark.parametrize("cut", ["before the closing boundary", "mid-line"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_upload_cut_before_its_closing_boundary_is_a_400_that_stores_nothing(
    stack: Stack, cut: str, framing: str
) -> None:
    before = stored(stack)
    body = FORM_HEAD + (CONTENT if cut == "before the closing boundary" else CONTENT[:200])
    multipart = "Content-Type: multipart/form-data; boundary=b0und"
    if framing == "chunked":
        data = head("/v1/files", multipart, "Transfer-Encoding: chunked") + chunked(body)
    else:
        data = head("/v1/files", multipart, f"Content-Length: {len(body)}") + body
    status, error = post_raw(stack, data)
    assert status == 400, error
    assert error["error"]["code"] == "incomplete_upload"
    assert error["error"]["type"] == "invalid_request_error"
    assert stored(stack) == before  # no record, no file, no .part
    # The same upload with its closing boundary is stored whole.
    whole = FORM_HEAD + CONTENT + CLOSING
    status, made = post_raw(
        stack, head("/v1/files", multipart, f"Content-Length: {len(whole)}") + whole
    )
    assert status == 200 and made["bytes"] == len(CONTENT)
    assert (stack.files_dir / f"{made['id']}.jsonl").read_bytes() == CONTENT


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/login", "application/x-www-form-urlencoded"), ("/v1/batches", "application/json")],
)
def test_a_huge_streamed_body_is_refused_before_the_server_holds_it(
    stack: Stack, path: str, content_type: str
) -> None:
    peak_before = peak_rss_mib(stack.server.pid)
    piece = b"k" * (1024 * 1024)
    with connect(stack) as sock:
        sock.sendall(head(path, f"Content-Type: {content_type}", "Transfer-Encoding: chunked"))
        sock.sendall(b"%x\r\nkey=\r\n" % 4)
        with contextlib.suppress(OSError):  # the server stops reading and closes
            for _ in range(200):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        status, error = answer(sock)
    assert status == 413 and error["error"]["code"] == "request_too_large"
    # 200 MiB were offered; the server's peak memory hardly moved.
    assert peak_rss_mib(stack.server.pid) - peak_before < 20


@pytest.mark.parametrize("window", ["inf", "0", "1"])
def test_a_bad_window_is_a_400_with_param_and_the_connection_stays_usable(
    client: openai.OpenAI, window: str
) -> None:
    file_id = client.files.create(file=("in.jsonl", CONTENT), purpose="batch").id
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/responses",
            completion_window=window,  # type: ignore[arg-type]
        )
    assert (caught.value.code, caught.value.param) == ("invalid_value", "completion_window")
    assert client.files.retrieve(file_id).id == file_id  # the next call on the same client


def test_metadata_over_openais_limits_is_refused_before_it_is_stored(
    client: openai.OpenAI, stack: Stack
) -> None:
    file_id = client.files.create(file=("in.jsonl", CONTENT), purpose="batch").id
    batches = stack.db.redis.zcard("respq:batches")
    with pytest.raises(openai.APIStatusError) as huge:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/responses",
            completion_window="24h",
            metadata={f"k{i}": "v" * 2**20 for i in range(16)},
        )
    assert huge.value.status_code == 413
    with pytest.raises(openai.BadRequestError) as long_value:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/responses",
            completion_window="24h",
            metadata={"team": "v" * 513},
        )
    assert (long_value.value.code, long_value.value.param) == ("invalid_value", "metadata")
    assert stack.db.redis.zcard("respq:batches") == batches


def test_an_input_file_deleted_while_validating_fails_the_batch_without_a_path(
    client: openai.OpenAI, stack: Stack
) -> None:
    file_id = client.files.create(file=("in.jsonl", CONTENT), purpose="batch").id
    # Padded on disk with blank lines (seconds of reading), so it is still being read when
    # it is deleted; then cut short, so the reader need not go through them all.
    path = stack.files_dir / f"{file_id}.jsonl"
    path.write_bytes(CONTENT + b"\n" * 40_000_000)
    with path.open("r+b") as stored_file:
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
        )
        assert client.files.delete(file_id).deleted
        stored_file.truncate(0)

    def ended() -> bool:
        return client.batches.retrieve(batch.id).status in ("completed", "failed")

    wait_until(ended, 60, "the batch to end", interval=0.1)
    done = client.batches.retrieve(batch.id)
    assert done.status == "failed", (done.status, stack.server.output()[-2000:])
    errors = done.errors
    assert errors is not None and errors.data is not None
    assert [error.code for error in errors.data] == ["file_unreadable"]
    message = errors.data[0].message or ""
    assert "deleted" in message
    assert str(stack.files_dir) not in message and os.sep not in message

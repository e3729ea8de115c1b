"""Units of the API server: the streaming multipart reader, OpenAI's output/error split,
validation problems as OpenAI's line errors, keys, cookies and log redaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from respq.contract.errors import (
    BadRequest,
    FilesDirUnusable,
    InvalidInput,
    NoKeysConfigured,
    PayloadTooLarge,
)
from respq.producer.cli import app
from respq.producer.validation import ItemPreparer
from respq.server.access_log import RedactTokens
from respq.server.auth import KeyRing
from respq.server.files import OutputFile, is_output_line
from respq.server.input_errors import batch_errors
from respq.server.run import links, prepare
from respq.server.settings import ServerSettings
from respq.server.upload import receive_upload


def multipart(fields: dict[str, str], content: bytes | None) -> tuple[str, bytes]:
    # Without content: a multipart body whose only parts are plain fields.
    files = {"file": ("in.jsonl", content, "application/jsonl")} if content else {"n": (None, b"x")}
    request = httpx.Request("POST", "http://x/v1/files", data=fields, files=files)
    return request.headers["content-type"], request.read()


async def chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_upload_streams_the_file_part_to_disk_in_any_chunking(tmp_path: Path) -> None:
    content = b"".join(b'{"model":"m","input":"%d"}\n' % i for i in range(20000))
    content_type, body = multipart({"purpose": "batch"}, content)
    for size in (1, 7, 4096, len(body)):
        target = tmp_path / f"out-{size}"
        upload = await receive_upload(content_type, chunks(body, size), target, 10**9)
        assert target.read_bytes() == content
        assert (upload.size, upload.filename, upload.fields) == (
            len(content),
            "in.jsonl",
            {"purpose": "batch"},
        )


async def test_upload_refuses_oversize_missing_and_malformed_bodies(tmp_path: Path) -> None:
    target = tmp_path / "f"
    content_type, body = multipart({"purpose": "batch"}, b"x" * 5000)
    with pytest.raises(PayloadTooLarge):
        await receive_upload(content_type, chunks(body, 1024), target, 4096)
    assert not target.exists()
    content_type, body = multipart({"purpose": "batch"}, None)
    with pytest.raises(BadRequest, match="no 'file' part"):
        await receive_upload(content_type, chunks(body, 1024), target, 4096)
    with pytest.raises(BadRequest, match="multipart"):
        await receive_upload("application/json", chunks(b"{}", 10), target, 4096)
    assert not target.exists()


def test_output_split_follows_openai_in_both_error_shapes() -> None:
    def line(response: object, error: object) -> bytes:
        return orjson.dumps({"id": "x", "custom_id": "c", "response": response, "error": error})

    ok = {"status_code": 200, "request_id": "r", "body": {}}
    assert is_output_line(line(ok, None))
    assert not is_output_line(line({"status_code": 404, "body": {}}, None))
    assert not is_output_line(line({"status_code": 500, "body": {}}, {"code": "e", "message": ""}))
    assert not is_output_line(line(None, {"code": "batch_expired", "message": "late"}))
    assert OutputFile.parse("file-out-batch_1") == OutputFile("batch_1", True)
    assert OutputFile.parse("file-err-b") == OutputFile("b", False)
    assert OutputFile.parse("file-0123abcd") is None and OutputFile.parse("file-out-") is None


def test_validation_problems_become_openai_line_errors() -> None:
    preparer = ItemPreparer()
    good = (
        b'{"custom_id":"a","method":"POST","url":"/v1/responses","body":{"model":"m","input":"x"}}'
    )
    preparer.add_line(good, 1)
    preparer.add_line(b"{nope", 2)
    preparer.add_line(good.replace(b"/v1/responses", b"/v1/embeddings").replace(b'"a"', b'"b"'), 3)
    preparer.add_line(good, 4)
    preparer.add_line(b'{"custom_id":"z","body":{"input":"x"}}', 5)
    with pytest.raises(InvalidInput) as caught:
        preparer.raise_if_bad()
    errors = batch_errors(caught.value)
    assert errors["object"] == "list"
    found = [(e["line"], e["code"], e["param"]) for e in errors["data"]]
    assert found == [
        (2, "invalid_json_line", None),
        (3, "url_mismatch", "url"),
        (4, "duplicate_custom_id", "custom_id"),
        (5, "missing_required_parameter", "body.model"),
    ]


def test_keys_bearer_checks() -> None:
    ring = KeyRing(["k1", "k2"])
    assert ring.enabled and not KeyRing([]).enabled
    assert ring.bearer("Bearer k2") and ring.bearer("bearer k1")
    assert not ring.bearer("Bearer k3") and not ring.bearer("k1")
    assert not ring.bearer(None) and not ring.bearer("Bearer k1x")


def test_access_log_masks_tokens() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, "%s %s", ("GET", "/?token=sk-secret&x=1"), None
    )
    RedactTokens().filter(record)
    assert "sk-secret" not in record.getMessage() and "token=***&x=1" in record.getMessage()


def test_start_needs_keys_or_no_auth(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    with pytest.raises(NoKeysConfigured):
        prepare(
            ServerSettings(server_api_keys=""), no_auth=False, host="h", port=1, out=io.StringIO()
        )
    out = io.StringIO()
    opened = prepare(
        ServerSettings(server_api_keys="k"), no_auth=True, host="0.0.0.0", port=9, out=out
    )
    assert opened.api_keys() == [] and "token" not in out.getvalue()
    assert "WITHOUT authentication" in capsys.readouterr().err
    assert links("0.0.0.0", 8000, "k")[1].endswith("http://127.0.0.1:8000/?token=k")


def test_an_unusable_files_dir_stops_the_start_with_one_line(tmp_path: Path) -> None:
    import io

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = ServerSettings(server_api_keys="k", files_dir=blocker / "files")
    with pytest.raises(FilesDirUnusable) as refused:
        prepare(settings, no_auth=False, host="h", port=1, out=io.StringIO())
    message = str(refused.value)
    assert "RESPQ_FILES_DIR" in message and str(tmp_path) not in message
    done = CliRunner().invoke(
        app,
        ["serve", "--port", "1"],
        env={"RESPQ_SERVER_API_KEYS": "k", "RESPQ_FILES_DIR": str(blocker / "files")},
    )
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [f"error: {message}"]

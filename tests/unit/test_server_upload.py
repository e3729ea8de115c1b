"""The streaming multipart reader of ``respq serve``: an upload is complete or refused, its
form is bounded, and a files directory that refuses writes is named, not a traceback."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from respq.contract.errors import BadRequest, PayloadTooLarge, StorageFull
from respq.server.upload import MAX_PARTS, receive_upload

from helpers.factories import request_line

CONTENT = b"".join(request_line(i) + b"\n" for i in range(3))


def multipart(fields: dict[str, str], content: bytes) -> tuple[str, bytes, bytes]:
    """(content type, body, boundary) of an upload of ``content`` with ``fields``."""
    files = {"file": ("in.jsonl", content, "application/jsonl")}
    request = httpx.Request("POST", "http://x/v1/files", data=fields, files=files)
    content_type = request.headers["content-type"]
    return content_type, request.read(), content_type.split("boundary=")[1].encode()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def cut_points(body: bytes, boundary: bytes) -> dict[str, int]:
    """Where a cut-short body can end: everything but the closing boundary, after its
    dashes' start, within the file's second line, and inside the last line."""
    closing = body.rindex(b"\r\n--" + boundary + b"--")
    data = body.index(CONTENT)
    second_line = data + CONTENT.index(b"\n") + 5
    return {
        "before the closing boundary": closing,
        "inside the closing boundary": closing + 4,
        "mid-line": second_line,
        "after the last newline of the file": data + len(CONTENT),
    }


@pytest.mark.parametrize(
    "where",
    [
        "before the closing boundary",
        "inside the closing boundary",
        "mid-line",
        "after the last newline of the file",
    ],
)
async def test_a_body_cut_before_its_closing_boundary_is_refused_and_leaves_no_file(
    tmp_path: Path, where: str
) -> None:
    content_type, body, boundary = multipart({"purpose": "batch"}, CONTENT)
    cut = body[: cut_points(body, boundary)[where]]
    target = tmp_path / "upload.part"
    with pytest.raises(BadRequest) as caught:
        await receive_upload(content_type, chunks(cut), target, 10**6)
    assert caught.value.status == 400 and caught.value.code == "incomplete_upload"
    assert not target.exists()
    # The whole body is accepted, byte for byte.
    upload = await receive_upload(content_type, chunks(body), target, 10**6)
    assert target.read_bytes() == CONTENT and upload.fields == {"purpose": "batch"}


async def test_a_form_with_too_many_parts_is_refused_while_streaming(tmp_path: Path) -> None:
    fields = {f"field{i}": "x" for i in range(MAX_PARTS)}
    content_type, body, _ = multipart(fields, CONTENT)
    target = tmp_path / "upload.part"
    with pytest.raises(PayloadTooLarge, match="parts"):
        await receive_upload(content_type, chunks(body), target, 10**6)
    assert not target.exists()
    fewer = {f"field{i}": "x" for i in range(MAX_PARTS - 1)}
    content_type, body, _ = multipart(fewer, CONTENT)
    assert (await receive_upload(content_type, chunks(body), target, 10**6)).size == len(CONTENT)


async def test_a_boundary_over_the_parsers_limit_is_a_bad_request(tmp_path: Path) -> None:
    content_type = "multipart/form-data; boundary=" + "b" * 300
    with pytest.raises(BadRequest, match="malformed"):
        await receive_upload(content_type, chunks(b"--" + b"b" * 300), tmp_path / "f", 10**6)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_a_full_files_directory_is_a_507_naming_the_setting_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every write to /dev/full fails with ENOSPC, as on a full disk.
    target = tmp_path / "upload.part"
    target.symlink_to("/dev/full")
    content_type, body, _ = multipart({"purpose": "batch"}, CONTENT * 5000)
    with (
        caplog.at_level(logging.ERROR, logger="respq.server"),
        pytest.raises(StorageFull) as caught,
    ):
        await receive_upload(content_type, chunks(body, 64 * 1024), target, 10**9)
    assert caught.value.status == 507
    assert "RESPQ_FILES_DIR" in caught.value.message and str(tmp_path) not in caught.value.message
    assert not target.is_symlink() and os.path.exists("/dev/full")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "RESPQ_FILES_DIR is full" in lines[0]
    assert "\n" not in lines[0] and not caplog.records[0].exc_info

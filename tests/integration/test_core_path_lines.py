"""The output line of a request never sent (batch_cancelled, batch_expired,
dependency_failed) is written by Lua: ``error_line`` in contract/lua/_common.lua, run here
by the real Redis (its cjson, not fakeredis'), gives the same bytes as contract/lines.py's
``error_line``, which builds every other line, for the same arguments."""

from __future__ import annotations

from importlib.resources import files

import orjson
import pytest

from respq.contract.lines import error_line
from respq.contract.scripts import lua_prelude

from helpers.databases import Database

COMMON = files("respq.contract").joinpath("lua/_common.lua").read_text(encoding="utf-8")
CALL = "\nreturn error_line(ARGV[1], ARGV[2], ARGV[3], ARGV[4])\n"


def lua_error_line(db: Database, line_id: str, cid: str, code: str, message: str) -> bytes:
    raw: bytes = db.redis.eval(lua_prelude() + COMMON + CALL, 0, line_id, cid, code, message)
    return raw


@pytest.mark.parametrize(
    ("cid", "code", "message"),
    [
        ("req-1", "batch_cancelled", "The batch was cancelled before this request was sent."),
        ("docs/2024/a.txt", "batch_expired", "This request could not be executed in time."),
        ("a\\/b \\\\/ c\\", "dependency_failed", 'The request it depends on ("x/y") failed.'),
        ("ünïcödé 文 🙂", "batch_cancelled", "tab\there, newline\nthere, \x01 and \\"),
        ("", "dependency_failed", ""),
    ],
)
def test_lua_writes_a_never_sent_request_line_as_python_builds_it(
    db: Database, cid: str, code: str, message: str
) -> None:
    line_id = "batch_req_0a1b2c_7"
    expected = orjson.dumps(error_line(cid, code, message, line_id=line_id))
    assert lua_error_line(db, line_id, cid, code, message) == expected


def test_a_control_character_cjson_escapes_reads_back_the_same(db: Database) -> None:
    # cjson writes DEL as \u007f where orjson writes the byte: the same JSON, other bytes.
    raw = lua_error_line(db, "batch_req_1", "del\x7f", "batch_expired", "m")
    assert orjson.loads(raw) == error_line("del\x7f", "batch_expired", "m", line_id="batch_req_1")

"""What an outcome becomes, decided in one place (contract/lines.py): an upstream failure
keeps its HTTP answer when there was one, with the failure's code in the body; without
one it is an ``error`` line; and the worker's Result reads whether it succeeded, its code
and what is stored for it from that line alone."""

from __future__ import annotations

import orjson
import pytest

from respq.contract.errors import (
    ClientError,
    InvalidResponse,
    ServerError,
    UpstreamError,
    UpstreamTimeout,
)
from respq.contract.lines import answer_line, failure_line, worker_error_line
from respq.contract.stored import unpack
from respq.worker.results import Result

from helpers.factories import response_body


@pytest.mark.parametrize(
    ("exc", "response", "error"),
    [
        (
            ClientError(
                "no such model",
                code="model_not_found",
                status_code=404,
                body={"error": {"message": "no such model", "code": "model_not_found"}},
                request_id="req_9",
            ),
            {
                "status_code": 404,
                "request_id": "req_9",
                "body": {"error": {"message": "no such model", "code": "model_not_found"}},
            },
            None,
        ),
        (
            ServerError("bad gateway", status_code=502, body="<html>502</html>"),
            {
                "status_code": 502,
                "request_id": None,
                "body": {
                    "error": {
                        "message": "bad gateway: <html>502</html>",
                        "type": "server_error",
                        "param": None,
                        "code": "server_error",
                    }
                },
            },
            None,
        ),
        (UpstreamTimeout("no answer in 600s"), None, {"code": "request_timeout"}),
        (
            InvalidResponse("not a Response", status_code=200, body={"x": 1}),
            None,
            {"code": "invalid_response"},
        ),
    ],
)
def test_a_failed_call_keeps_its_http_answer_and_only_then(
    exc: UpstreamError, response: dict[str, object] | None, error: dict[str, str] | None
) -> None:
    line = failure_line("c1", exc)
    assert line["custom_id"] == "c1" and line["id"].startswith("batch_req_")
    assert line["response"] == response
    if error is None:
        assert line["error"] is None
    else:
        assert line["error"] == {**error, "message": exc.message}
    result = Result("c1", line)
    assert not result.ok and result.code == exc.code
    assert result.args()[1] == orjson.dumps(line)  # a failure is stored as its JSON


def test_a_result_reads_success_code_and_stored_bytes_from_its_line() -> None:
    ok = Result("c1", answer_line("c1", 200, "req_1", response_body()))
    assert ok.ok and ok.code == ""
    stored = ok.args()[1]
    assert isinstance(stored, bytes) and stored[:1] != b"{"  # packed
    assert unpack(stored) == orjson.dumps(ok.line)

    broken = Result("c2", worker_error_line("c2", "KeyError: 'x'"))
    assert not broken.ok and broken.code == "worker_error"
    assert broken.line["error"] == {"code": "worker_error", "message": "KeyError: 'x'"}

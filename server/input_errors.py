"""Why a batch's input file could not be enqueued, as OpenAI's batch ``errors`` object: one
entry per bad line (named with the code OpenAI would use), or one entry whose code says
what else went wrong (the file holds no request, changed while it was read, could not be
read, or the server had no room to validate it). Messages never carry the server's paths.

The checks themselves are the library's (``respq.producer.jsonl_file`` and
``respq.producer.validation``).
"""

from __future__ import annotations

import re
from typing import Any

from respq.contract.errors import EmptyFile, FileChanged, InvalidInput, SpoolFull
from respq.contract.lines import ItemProblem

_LINE_RE = re.compile(r"line (\d+)")


def code_for(problem: ItemProblem) -> str:
    if problem.code:
        return problem.code
    field, message = problem.field, problem.message
    if "over the limit" in message:
        return "request_too_large"
    if field == "" and (message.startswith("not valid JSON") or "JSON object" in message):
        return "invalid_json_line"
    if field == "url":
        return "invalid_url"
    if field == "method":
        return "invalid_method"
    if field == "custom_id" and "duplicate" in message:
        return "duplicate_custom_id"
    if field == "depends_on":
        return "invalid_depends_on"
    if message == "Field required":
        return "missing_required_parameter"
    return "invalid_request"


def line_of(problem: ItemProblem) -> int | None:
    match = _LINE_RE.fullmatch(problem.where)
    return int(match.group(1)) if match else None


def batch_errors(exc: InvalidInput) -> dict[str, Any]:
    """OpenAI's ``errors`` object: every kept problem with its line, code and param."""
    data = [
        {
            "code": code_for(problem),
            "message": problem.message
            + (f" (custom_id {problem.custom_id!r})" if problem.custom_id else ""),
            "param": problem.field or None,
            "line": line_of(problem),
        }
        for problem in exc.problems
    ]
    return {"object": "list", "data": data}


def single_error(code: str, message: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"code": code, "message": message, "param": None, "line": None}],
    }


# Every way the library says a file cannot be enqueued; file_errors answers each.
FileFailure = InvalidInput | EmptyFile | FileChanged | SpoolFull | OSError
FILE_FAILURES = (InvalidInput, EmptyFile, FileChanged, SpoolFull, OSError)

EMPTY_FILE = "The input file holds no requests; nothing was enqueued."
FILE_CHANGED = "The input file changed while it was being validated; nothing was enqueued."
NO_ROOM = (
    "The server has no space left to validate this batch; nothing was enqueued. Try again "
    "once space is freed."
)


def unreadable(exc: OSError) -> str:
    """Why the input file could not be read, without the server's path to it."""
    if isinstance(exc, FileNotFoundError):
        return "The input file was deleted before it was validated; nothing was enqueued."
    return f"The input file could not be read ({exc.strerror or type(exc).__name__})."


def file_errors(exc: FileFailure) -> dict[str, Any]:
    """The ``errors`` object of a batch whose file failed: each failure its own code."""
    if isinstance(exc, InvalidInput):
        return batch_errors(exc)
    if isinstance(exc, EmptyFile):
        return single_error("empty_file", EMPTY_FILE)
    if isinstance(exc, FileChanged):
        return single_error("file_changed", FILE_CHANGED)
    if isinstance(exc, SpoolFull):
        return single_error("insufficient_storage", NO_ROOM)
    return single_error("file_unreadable", unreadable(exc))

"""respq's validation problems as OpenAI's batch ``errors`` object (one entry per bad line).

The checks themselves are the producer's (``respq.producer.validation`` through the CLI's
two-pass file reader); this only names each problem with the code OpenAI would use.
"""

from __future__ import annotations

import re
from typing import Any

from respq.contract.errors import InvalidInput
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

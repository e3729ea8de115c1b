"""The requests the benchmarks submit: one small Responses body per index, as a bare body,
an OpenAI batch line, or a JSONL file of batch lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def body(i: int, *, max_output_tokens: int | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"model": "gpt-5.4", "input": f"Write a one-line caption for item {i}."}
    if max_output_tokens is not None:
        b["max_output_tokens"] = max_output_tokens
    return b


def batch_line(i: int, *, max_output_tokens: int | None = None) -> dict[str, Any]:
    return {
        "custom_id": f"req-{i}",
        "method": "POST",
        "url": "/v1/responses",
        "body": body(i, max_output_tokens=max_output_tokens),
    }


def write_jsonl(path: Path, n: int) -> None:
    with path.open("wb") as handle:
        for start in range(0, n, 10_000):
            handle.write(
                b"".join(
                    orjson.dumps(batch_line(i)) + b"\n"
                    for i in range(start, min(n, start + 10_000))
                )
            )

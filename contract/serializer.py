"""JSON job (de)serialisation for arq: a pickle in Redis would be code execution in
every worker, so both the producer's pool and the worker use this pair."""

from __future__ import annotations

from typing import Any

import orjson


def _fallback(value: Any) -> str:
    # arq serialises exceptions into job results; keep their text, never the object.
    return repr(value)


def dumps_job(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, default=_fallback)


def loads_job(raw: bytes) -> dict[str, Any]:
    """Parse a job record; anything that is not a JSON object (a pickle, say) is refused."""
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("job record is not a JSON object")
    return data

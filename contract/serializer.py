"""arq job records as JSON: a pickle in Redis would be code execution in every worker, so
the producer's pool and the worker use this pair, and every respq job record is built by
``job_record`` here or its Lua twin ``job_record`` in ``contract/lua/_common.lua``."""

from __future__ import annotations

from typing import Any

import orjson

from respq.contract.constants import JOB_FUNCTION


def _fallback(value: Any) -> str:
    # arq serialises exceptions into job results; keep their text, never the object.
    return repr(value)


def job_record(
    batch_id: str,
    custom_ids: list[str],
    *,
    enqueued_ms: int,
    attempts_used: int = 0,
    tries: int = 0,
) -> bytes:
    """The record of one respq job in arq's layout: ``run_requests(batch_id, custom_ids,
    attempts_used)``; ``tries`` is arq's run count so far."""
    return orjson.dumps(
        {
            "t": tries,
            "f": JOB_FUNCTION,
            "a": [batch_id, custom_ids, attempts_used],
            "k": {},
            "et": enqueued_ms,
        }
    )


def dumps_job(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, default=_fallback)


def loads_job(raw: bytes) -> dict[str, Any]:
    """Parse a job record; anything that is not a JSON object (a pickle, say) is refused."""
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("job record is not a JSON object")
    return data
